/**
 * What must not outlive a check, even when it is interrupted: qemu processes and temp folders.
 * While something is registered, exit and SIGINT/SIGTERM run every cleanup (synchronously)
 * before the process goes; the signal is then raised again, as if nobody had listened.
 */
const cleanups = new Set<() => void>();

function runAll(): void {
  for (const fn of [...cleanups]) {
    try {
      fn();
    } catch {
      // best effort: the next cleanup still runs
    }
  }
}

function onSignal(sig: NodeJS.Signals): void {
  runAll();
  cleanups.clear();
  detach();
  process.kill(process.pid, sig);
}

function detach(): void {
  process.off("exit", runAll);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}

/** Register fn until the returned function is called. */
export function untilDone(fn: () => void): () => void {
  if (cleanups.size === 0) {
    process.on("exit", runAll);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
    if (cleanups.size === 0) detach();
  };
}
