// Ctrl-C (and SIGTERM) for the whole process. Before any long work starts, the first signal
// exits at once with 130: there is nothing to save. During long work (withInterrupt), the first
// one asks the work to stop cleanly (checkpoints are saved, the run stays resumable) and a second
// one exits at once.
let active: { abort: AbortController; message: string } | null = null;
let interrupts = 0;

function onSignal(): void {
  interrupts++;
  if (active && interrupts === 1) {
    process.stderr.write(`\n! stopping: ${active.message} (Ctrl-C again to abort now)\n`);
    active.abort.abort();
  } else process.exit(130);
}

/** Called once, first thing (bin/hone); `pending`: a signal arrived while the program loaded. */
export function installInterrupts(pending: boolean): void {
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  if (pending) onSignal();
}

export async function withInterrupt<T>(message: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  active = { abort, message };
  // A signal that came just before (while arguments were parsed) counts for this work.
  if (interrupts > 0) abort.abort();
  // Without bin/hone (the SDK, tests), the handlers are installed here.
  const own = process.listenerCount("SIGINT") === 0;
  if (own) installInterrupts(false);
  try {
    return await work(abort.signal);
  } finally {
    active = null;
    if (own) {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
    }
  }
}
