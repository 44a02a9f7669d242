// A scriptable HTTP server on 127.0.0.1 for tests of HTTP clients: it records every request (parsed JSON body,
// whether the client hung up early), writes each chunk as its own TCP segment, and counts open sockets so a test
// can assert that a client left none behind.
import * as assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
  /** Resolves when the client closed the connection before the response was complete. */
  readonly closedEarly: Promise<void>;
}

export type Route = (seen: Seen, res: ServerResponse, req: IncomingMessage) => void | Promise<void>;

/** A route per "METHOD /path"; anything else is a 404 like a real server's. */
export function routeTable(routes: Readonly<Record<string, Route>>): Route {
  return (seen, res, req) => {
    const route = routes[`${seen.method} ${seen.path}`];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
      return;
    }
    return route(seen, res, req);
  };
}

export class FakeServer {
  readonly seen: Seen[] = [];
  readonly sockets = new Set<Socket>();
  connections = 0;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** `urlPath` is appended to the base URL the test hands to the client (e.g. '/v1'). */
  static start(routes: Readonly<Record<string, Route>>, urlPath?: string): Promise<FakeServer>;
  static start(handler: Route, urlPath?: string): Promise<FakeServer>;
  static async start(handler: Route | Readonly<Record<string, Route>>, urlPath = ''): Promise<FakeServer> {
    const route = typeof handler === 'function' ? handler : routeTable(handler);
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
    const fake = new FakeServer(server, `http://127.0.0.1:${port}${urlPath}`);
    server.on('connection', (s: Socket) => {
      s.setNoDelay(true); // each write leaves as its own TCP segment
      fake.connections++;
      fake.sockets.add(s);
      s.on('close', () => fake.sockets.delete(s));
    });
    server.on('request', (req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        raw += d;
      });
      req.on('end', () => {
        const closedEarly = new Promise<void>((resolve) =>
          res.on('close', () => {
            if (!res.writableFinished) resolve();
          }),
        );
        const seen: Seen = {
          method: req.method ?? 'GET',
          path: (req.url ?? '/').split('?')[0]!,
          headers: req.headers,
          body: raw ? JSON.parse(raw) : undefined,
          closedEarly,
        };
        fake.seen.push(seen);
        void Promise.resolve(route(seen, res, req)).catch(() => res.destroy());
      });
    });
    return fake;
  }

  /** Waits until no client socket is open (the client closed them all); `ms` only catches a hang. */
  async noOpenSockets(ms = 30_000): Promise<void> {
    const until = performance.now() + ms;
    while (this.sockets.size > 0) {
      if (performance.now() > until) assert.fail(`${this.sockets.size} socket(s) still open`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
