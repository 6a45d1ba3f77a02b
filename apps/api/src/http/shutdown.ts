/**
 * What must stop when the process stops: open event streams register here. One registered after
 * the stop began (its request was already in flight) is stopped at once, so it cannot hold the
 * server open until its job ends.
 */
export class ShutdownHooks {
  private readonly hooks = new Set<() => void>();
  private stopping = false;

  add(hook: () => void): void {
    if (this.stopping) {
      hook();
      return;
    }
    this.hooks.add(hook);
  }

  delete(hook: () => void): void {
    this.hooks.delete(hook);
  }

  trigger(): void {
    this.stopping = true;
    for (const hook of [...this.hooks]) hook();
  }
}
