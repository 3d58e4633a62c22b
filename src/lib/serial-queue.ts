/**
 * Runs async work one piece at a time, in order of arrival, inside one object. A Durable Object's
 * input gate does not hold across awaits on fetch, so two requests that both change Fly (or both
 * change a Telegram claim) would otherwise interleave. A failed piece does not stop the next.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
