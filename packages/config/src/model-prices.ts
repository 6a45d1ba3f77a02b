/**
 * USD per stored image, by model: the estimate behind usage figures and monthly budgets. The keys
 * are the models Darkroom knows; `MODEL_PRICES` may change any of them and no other.
 */
export const DEFAULT_MODEL_PRICES: Readonly<Record<string, number>> = Object.freeze({
  "gpt-4o-image": 0.04,
  "gpt-image-1": 0.042,
});

/** The default of `MODEL_PRICES`, as written in the environment. */
export const DEFAULT_MODEL_PRICES_TEXT = Object.entries(DEFAULT_MODEL_PRICES)
  .map(([model, usd]) => `${model}=${usd}`)
  .join(",");

const PRICE = /^\d{1,4}(\.\d{1,6})?$/;
const MAX_PRICE_USD = 1000;

/**
 * `gpt-4o-image=0.04,gpt-image-1=0.042` -> the price table. Models left out keep their default
 * price. Throws naming the entry that is wrong: not `model=usd`, an unknown model, a model named
 * twice, or a price that is not a plain non-negative decimal (at most 6 decimal places, at most 1000).
 */
export function parseModelPrices(value: string): Record<string, number> {
  const prices: Record<string, number> = { ...DEFAULT_MODEL_PRICES };
  const seen = new Set<string>();
  for (const raw of value.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new Error(`"${entry}" is not model=usd (such as gpt-image-1=0.042)`);
    const model = entry.slice(0, eq).trim();
    const price = entry.slice(eq + 1).trim();
    if (!Object.hasOwn(DEFAULT_MODEL_PRICES, model)) {
      throw new Error(`unknown model "${model}" (known: ${Object.keys(DEFAULT_MODEL_PRICES).join(", ")})`);
    }
    if (seen.has(model)) throw new Error(`${model} is priced twice`);
    seen.add(model);
    if (!PRICE.test(price) || Number(price) > MAX_PRICE_USD) {
      throw new Error(
        `the price of ${model} must be USD per image as a plain decimal such as 0.04 (at most 6 decimal places, at most ${MAX_PRICE_USD}), not "${price}"`,
      );
    }
    prices[model] = Number(price);
  }
  return prices;
}
