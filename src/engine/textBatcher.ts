// Streamed text goes from the worker to the extension host in batches, at most one message per interval rather than
// one per token: each message is a socket write in the worker and a JSON parse in the extension host, and nothing
// there needs text sooner (the pipeline keeps it for the next keystroke; a chat view repaints at frame rate).

export type Schedule = (run: () => void, ms: number) => { cancel(): void };

const timers: Schedule = (run, ms) => {
  const t = setTimeout(run, ms);
  return { cancel: () => clearTimeout(t) };
};

export class TextBatcher {
  private pending = '';
  private timer: { cancel(): void } | undefined;

  constructor(
    private readonly send: (text: string) => void,
    private readonly intervalMs = 16,
    private readonly schedule: Schedule = timers,
  ) {}

  /** Text as the engine produces it: sent with whatever follows within the interval. */
  push(text: string): void {
    this.pending += text;
    this.timer ??= this.schedule(() => this.flush(), this.intervalMs);
  }

  /** Sends what is waiting now (before the result, or an error, so the text arrives first). */
  flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.pending) this.send(this.pending);
    this.pending = '';
  }
}
