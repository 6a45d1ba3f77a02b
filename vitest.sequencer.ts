import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The slowest files start first: the chaos file (minutes) and then the whole-system files, so that
 * the run's wall time is close to max(chaos, rest / workers) rather than rest / workers + chaos.
 * Vitest's own order (larger files first, without a results cache, which a fresh clone never has)
 * would start the short chaos file near the end.
 */
const WEIGHTS: [RegExp, number][] = [
  [/chaos[^/]*\.test\.ts$/, 0],
  [/\/apps\/[^/]+\/test\/[^/]+\.int\.test\.ts$/, 1],
  [/\.int\.test\.ts$/, 2],
];

function weightOf(file: string): number {
  return WEIGHTS.find(([pattern]) => pattern.test(file))?.[1] ?? 3;
}

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    return ordered
      .map((spec, index) => ({ spec, index, weight: weightOf(spec.moduleId) }))
      .sort((a, b) => a.weight - b.weight || a.index - b.index)
      .map(({ spec }) => spec);
  }
}
