// One shared cloud client per endpoint configuration, handed out as leases, so that the palette's tasks and the
// chat's messages reuse one connection pool (and its TLS sessions) instead of opening a new one per request.
//
// The pool keeps one current client: the one for the configuration last acquired. Acquiring another configuration
// (a new endpoint, model, proxy or timeout in the settings) makes that one current and retires the old one, which is
// closed once its last lease is released: a request that is running is never cut. dispose() closes the idle clients
// at once and the leased ones on their last release.
//
// The clients come from a factory given to the constructor (the extension's loads CloudClient from the HTTP bundle
// on first use; a test's may wrap or fake it), so this module holds no state of its own and loads no HTTP stack.
import type { CloudClient, CloudClientOptions } from './client';

/** What the pool needs of a client: that it can be closed (the caller uses the rest, e.g. chat). */
export interface ClosableClient {
  close(): Promise<void>;
}

export type CloudClientFactory<C extends ClosableClient = CloudClient> = (options: CloudClientOptions) => C;

/** A client lent for one request (or a few); release it when done, once (later calls do nothing). */
export interface CloudLease<C extends ClosableClient = CloudClient> {
  readonly client: C;
  /** Resolves when the client is closed, when this release closed it (a retired client's last lease); at once otherwise. */
  release(): Promise<void>;
}

interface Entry<C> {
  readonly key: string;
  readonly client: C;
  /** Leases not yet released. */
  inFlight: number;
  /** The latest acquire's key callback: every request reads the key through it, so a key set meanwhile is used. */
  apiKey: CloudClientOptions['apiKey'];
}

export class CloudClients<C extends ClosableClient = CloudClient> {
  /** The current client and the retired ones still leased; a client leaves when it is closed. */
  private readonly entries = new Map<string, Entry<C>>();
  private current: Entry<C> | undefined;
  private disposed = false;
  /** Functions and class instances in the options (a dispatcher, a clock) are told apart by identity. */
  private readonly identities = new WeakMap<object, number>();
  private nextIdentity = 0;

  constructor(private readonly create: CloudClientFactory<C>) {}

  /**
   * A lease on the client for `options`: the current one when the configuration is the same, else a new one (or a
   * retired one still running, brought back), which becomes current. Everything in the options but `apiKey` makes
   * the configuration, compared by value (functions and class instances by identity). Throws after dispose().
   */
  acquire(options: CloudClientOptions): CloudLease<C> {
    if (this.disposed) throw new Error('The cloud client pool was disposed.');
    const key = this.keyOf(options);
    let entry = this.entries.get(key);
    if (!entry) {
      const made: Entry<C> = {
        key,
        inFlight: 0,
        apiKey: options.apiKey,
        client: this.create({ ...options, apiKey: () => made.apiKey?.() ?? Promise.resolve(undefined) }),
      };
      this.entries.set(key, made);
      entry = made;
    }
    entry.apiKey = options.apiKey;
    const previous = this.current;
    this.current = entry;
    // A retired client with nothing running closes now; one still leased closes on its last release.
    if (previous && previous !== entry && previous.inFlight === 0) void this.closeEntry(previous).catch(ignoreCloseFailure);
    entry.inFlight++;
    return this.lease(entry);
  }

  /** Runs `work` with a leased client and releases it however `work` ends. */
  async use<T>(options: CloudClientOptions, work: (client: C) => Promise<T>): Promise<T> {
    const lease = this.acquire(options);
    try {
      return await work(lease.client);
    } finally {
      await lease.release();
    }
  }

  /**
   * Closes every idle client now (resolving when they are closed) and each leased one on its last release; the
   * requests running meanwhile finish. acquire() throws afterwards. Calling it again does nothing more.
   */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.current = undefined;
    await Promise.all([...this.entries.values()].filter((e) => e.inFlight === 0).map((e) => this.closeEntry(e)));
  }

  /** Leases not yet released, over every client (the current one and the retired ones still running). */
  get inFlight(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.inFlight;
    return n;
  }

  /** Clients open: the current one and the retired ones still leased. */
  get open(): number {
    return this.entries.size;
  }

  // -------------------------------------------------------------------------------------------------------------

  private lease(entry: Entry<C>): CloudLease<C> {
    let released = false;
    return {
      client: entry.client,
      release: async () => {
        if (released) return;
        released = true;
        entry.inFlight--;
        if (entry.inFlight === 0 && entry !== this.current) await this.closeEntry(entry);
      },
    };
  }

  private closeEntry(entry: Entry<C>): Promise<void> {
    // Gone from the map first, so an acquire of the same configuration meanwhile makes a new client.
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    return entry.client.close();
  }

  /** The options but `apiKey`, as text: plain objects with their keys sorted, undefined fields left out. */
  private keyOf(options: CloudClientOptions): string {
    const { apiKey: _perRequest, ...rest } = options;
    return this.canonical(rest);
  }

  private canonical(v: unknown): string {
    if (typeof v === 'function') return `#${this.identity(v)}`;
    if (Array.isArray(v)) return `[${v.map((x) => this.canonical(x)).join(',')}]`;
    if (typeof v === 'object' && v !== null) {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return `#${this.identity(v)}`;
      const fields = Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${fields.map(([k, x]) => `${JSON.stringify(k)}:${this.canonical(x)}`).join(',')}}`;
    }
    return v === undefined ? 'undefined' : JSON.stringify(v);
  }

  private identity(o: object): number {
    let id = this.identities.get(o);
    if (id === undefined) {
      id = this.nextIdentity++;
      this.identities.set(o, id);
    }
    return id;
  }
}

/**
 * A retired client closed from acquire() has no caller to tell; CloudClient.close() only destroys its own undici
 * dispatcher, which does not fail for a pool it made.
 */
function ignoreCloseFailure(): void {}
