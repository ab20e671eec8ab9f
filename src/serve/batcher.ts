// Dynamic micro-batching: requests that arrive while the model is busy, or within a short wait,
// are run as one batch; each request gets its own slice of the results back.

interface Pending<R> {
  texts: string[];
  resolve: (r: R[]) => void;
  reject: (e: unknown) => void;
}

export class MicroBatcher<R> {
  private queue: Pending<R>[] = [];
  private busy = false;
  private timer: NodeJS.Timeout | null = null;
  /** Sizes of the batches run, for the metrics. */
  onBatch: (size: number, seconds: number) => void = () => {};

  constructor(
    private readonly run: (texts: string[]) => Promise<R[]>,
    private readonly opts: { maxBatch: number; maxWaitMs: number },
  ) {}

  submit(texts: string[]): Promise<R[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ texts, resolve, reject });
      this.schedule();
    });
  }

  get queued(): number {
    return this.queue.reduce((s, p) => s + p.texts.length, 0);
  }

  private schedule(): void {
    if (this.busy) return; // the running batch flushes again when it is done
    if (this.queued >= this.opts.maxBatch) return void this.flush();
    // Wait a little for company, within the latency budget.
    this.timer ??= setTimeout(() => this.flush(), this.opts.maxWaitMs);
  }

  private async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.busy || this.queue.length === 0) return;
    this.busy = true;
    const take: Pending<R>[] = [];
    let n = 0;
    while (this.queue.length > 0 && (take.length === 0 || n + this.queue[0]!.texts.length <= this.opts.maxBatch)) {
      const p = this.queue.shift()!;
      take.push(p);
      n += p.texts.length;
    }
    const t0 = performance.now();
    try {
      const results = await this.run(take.flatMap((p) => p.texts));
      this.onBatch(n, (performance.now() - t0) / 1000);
      let at = 0;
      for (const p of take) {
        p.resolve(results.slice(at, at + p.texts.length));
        at += p.texts.length;
      }
    } catch (e) {
      for (const p of take) p.reject(e);
    } finally {
      this.busy = false;
      // Whatever queued up meanwhile has waited a whole batch already: run it without the wait
      // for company, once the sockets have been read (setImmediate runs after the I/O phase, so
      // requests that arrived during the batch join this one).
      if (this.queue.length > 0) setImmediate(() => void this.flush());
    }
  }
}
