// Shared set-up for the web tests: a tree served by an EpicsPvServer (no EPICS sockets) and a
// WebServer on 127.0.0.1, and a plain `ws` client that collects what the server sends.
import WebSocket from 'ws';
import { EpicsPvServer, type EpicsPvServerOptions } from '../../src/epics/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import type { Root } from '../../src/tree/index.ts';
import { WebServer, type WebServerOptions } from '../../src/web/index.ts';

export interface WebServed {
  epics: EpicsPvServer;
  web: WebServer;
  log: ReturnType<typeof memoryLogger>;
  /** ws://127.0.0.1:PORT/pvws/pv */
  wsUrl: string;
  close(): Promise<void>;
}

/** Starts `root` with an EpicsPvServer (base 'test', no pvAccess/CA sockets) and a WebServer on an ephemeral port. */
export async function serveWeb(root: Root, opts: Partial<WebServerOptions> = {}, epicsOpts: Partial<EpicsPvServerOptions> = {}): Promise<WebServed> {
  const log = memoryLogger();
  const epics = new EpicsPvServer({ base: 'test', root, protocols: [], logger: log, ...epicsOpts });
  const web = new WebServer({ epics, port: 0, logger: log, ...opts });
  root.addProtocol(epics);
  root.addProtocol(web);
  await root.start();
  return { epics, web, log, wsUrl: `ws://127.0.0.1:${web.port}/pvws/pv`, close: () => root.stop() };
}

export type Msg = Record<string, unknown> & { type: string };

/** A web socket client keeping every message; waits for the ones a test expects. */
export class TestClient {
  readonly ws: WebSocket;
  readonly messages: Msg[] = [];
  readonly texts: string[] = [];
  pings = 0;
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  constructor(url: string, opts: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, opts);
    this.ws.on('message', (d, binary) => {
      const text = binary ? '' : d.toString();
      this.texts.push(text);
      this.messages.push(JSON.parse(text) as Msg);
      this.wake();
    });
    this.ws.on('ping', () => {
      this.pings++;
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    this.ws.on('error', () => this.wake());
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async open(url: string, opts: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const c = new TestClient(url, opts);
    await new Promise<void>((resolve, reject) => {
      c.ws.once('open', () => resolve());
      c.ws.once('error', reject);
    });
    return c;
  }

  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  /** Resolves when `cond` holds (checked now and after every event); rejects after timeoutMs. */
  async until<T>(cond: () => T | undefined | false, what: string, timeoutMs = 10000): Promise<T> {
    const t0 = Date.now();
    for (;;) {
      const r = cond();
      if (r !== undefined && r !== false) return r;
      const left = timeoutMs - (Date.now() - t0);
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The first message from index `from` on that matches. */
  async next(match: (m: Msg) => boolean, what: string, from = 0, timeoutMs = 10000): Promise<Msg> {
    return this.until(() => this.messages.slice(from).find(match), what, timeoutMs);
  }

  /** Updates of one PV received so far. */
  updates(pv: string): Msg[] {
    return this.messages.filter((m) => m.type === 'update' && m.pv === pv);
  }

  close(): void {
    this.ws.terminate();
  }
}
