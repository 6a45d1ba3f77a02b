/**
 * Gathers the calls of many jobs into one statement or one Redis script call (group commit): a call
 * made while no batch is in flight goes out with every other call of the same turn of the event
 * loop; calls made while a batch is in flight wait for it and then go out together. So a worker
 * running dozens of jobs claims and finishes them a batch at a time, a commit (or a round trip) per
 * batch instead of per job, and a call never waits longer than the batch ahead of it.
 *
 * A batch that fails as a whole (a bad row, a deadlock, a dropped connection) is run again one call
 * at a time: each call gets its own answer or its own error, never another's.
 */
export class CallBatcher<I, O> {
  private waiting: { input: I; resolve: (out: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = false;
  private scheduled = false;

  constructor(
    /** Runs one batch; its answer for each input, in the order given. */
    private readonly run: (inputs: I[]) => Promise<O[]>,
    private readonly options: {
      /** Calls with the same key never share a batch (one row per job in a statement). */
      keyOf: (input: I) => string;
      /** At most this many calls per statement. */
      maxBatch: number;
      /** A batch failed as a whole and is retried one call at a time. */
      onBatchError?: (error: unknown, size: number) => void;
    },
  ) {}

  submit(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    // The rest of this turn's calls join the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight) return;
    const batch: typeof this.waiting = [];
    const later: typeof this.waiting = [];
    const keys = new Set<string>();
    for (const call of this.waiting) {
      const key = this.options.keyOf(call.input);
      if (batch.length >= this.options.maxBatch || keys.has(key)) later.push(call);
      else {
        keys.add(key);
        batch.push(call);
      }
    }
    this.waiting = later;
    if (batch.length === 0) return;
    this.inFlight = true;
    try {
      await this.send(batch);
    } finally {
      this.inFlight = false;
      this.schedule();
    }
  }

  private async send(batch: typeof this.waiting): Promise<void> {
    let answers: O[];
    try {
      answers = await this.run(batch.map((call) => call.input));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
      this.options.onBatchError?.(error, batch.length);
      await Promise.all(batch.map((call) => this.send([call])));
      return;
    }
    for (const [i, call] of batch.entries()) call.resolve(answers[i] as O);
  }
}
