/**
 * The one concurrency limiter: a counting semaphore whose waiters with a higher priority go first
 * (FIFO among equals), and `forEachLimit` for "do these, n at a time".
 */

export class Semaphore {
  private free: number;
  private readonly waiters: { priority: number; wake: () => void }[] = [];
  constructor(n: number) {
    this.free = Math.max(1, Math.floor(n));
  }

  /** Wait for a slot; returns its release (idempotent). */
  async acquire(priority = 0): Promise<() => void> {
    if (this.free > 0) this.free--;
    else
      await new Promise<void>((wake) => {
        let i = this.waiters.length;
        while (i > 0 && this.waiters[i - 1]!.priority < priority) i--;
        this.waiters.splice(i, 0, { priority, wake });
      });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next.wake();
      else this.free++;
    };
  }

  /** Run `fn` in a slot. */
  async run<T>(fn: () => Promise<T>, priority = 0): Promise<T> {
    const release = await this.acquire(priority);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** Call `fn` for every item, at most `n` at a time; rejects with the first failure once all started calls ended. */
export async function forEachLimit<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  const sem = new Semaphore(n);
  const settled = await Promise.allSettled(items.map((item) => sem.run(() => fn(item))));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) throw failure.reason;
}
