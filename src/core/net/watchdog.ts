// Timers with which a client ends a request itself: the whole call's deadline, and the stream's data-idle watch
// (undici's own body timeout restarts on any byte, so a `: ping` comment every second would keep a stalled answer
// open forever). Each fires at most once and says whether it did, so that the caller can tell its own stop from a
// network failure, whatever error the stop surfaced as. Shared by the cloud client and the local server backends.

export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private fired = false;
  private stopped = false;

  constructor(
    private readonly ms: number,
    private readonly onFire: () => void,
  ) {}

  /** Starts the countdown, or starts it again from now. */
  touch(): void {
    if (this.fired || this.stopped) return;
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.fired = true;
      this.onFire();
    }, this.ms);
  }

  /** For good: later touches do nothing. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  get expired(): boolean {
    return this.fired;
  }
}

/** The signal of one call: aborted by the caller's signal or by the call's deadline, whichever comes first. */
export class CallSignal {
  private readonly controller = new AbortController();
  private readonly deadline: Watchdog;
  private readonly forward = () => this.controller.abort(this.caller?.reason);

  constructor(
    deadlineMs: number,
    private readonly caller: AbortSignal | undefined,
  ) {
    this.deadline = new Watchdog(deadlineMs, () => this.controller.abort(new Error("the call's deadline passed")));
    if (caller?.aborted) this.forward();
    else caller?.addEventListener('abort', this.forward, { once: true });
    this.deadline.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True when the caller cancelled the call. */
  get cancelled(): boolean {
    return this.caller?.aborted ?? false;
  }

  /** True when the deadline ended the call (and the caller had not cancelled it first). */
  get expired(): boolean {
    return this.deadline.expired && !this.caller?.aborted;
  }

  /** Ends the deadline's timer and lets go of the caller's signal. */
  dispose(): void {
    this.deadline.stop();
    this.caller?.removeEventListener('abort', this.forward);
  }
}

/** A stream that sent no data (comments and blank lines do not count) for the idle time: thrown by its reader. */
export class DataIdle extends Error {
  override readonly name = 'DataIdle';
  constructor() {
    super('no data for the idle time');
  }
}

/** The whole request (connection, headers, body) took longer than its deadline: thrown by the reader it ended. */
export class DeadlinePassed extends Error {
  override readonly name = 'DeadlinePassed';
  constructor(readonly ms: number) {
    super(`no complete answer within ${ms} ms`);
  }
}
