/**
 * Whether a process with this pid runs on this machine. One of another user's counts (it may not be
 * signalled, but it is there). Used to tell what a dead process left behind (a test run's
 * databases and keys, an API's views folder) from what a live one still uses.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
