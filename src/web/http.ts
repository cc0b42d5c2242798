// The HTTP side of the web server: the page, its files, uPlot, the tree and status as JSON; and
// the checks every request and web socket upgrade passes (Host and Origin).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { contentType, fileInside, readAsset, staticDir, vendorFile } from './assets.ts';

/** What the request handler serves from. */
export interface HttpContext {
  /** `GET /api/tree`, already JSON. */
  treeJson(): string;
  /** `GET /api/status`: server and client counters. */
  status(): unknown;
  /** True when listening on a loopback address: only loopback host names are accepted then. */
  loopbackOnly: boolean;
  /** Origins allowed to open the web socket besides the page's own ('*': any). */
  allowedOrigins: readonly string[];
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The host name of a Host header (without the port). */
function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return (i < 0 ? host : host.slice(0, i)).toLowerCase();
}

/**
 * A request's Host is acceptable: on a loopback-only server it must name the loopback, so a page
 * from elsewhere cannot reach the server through a rebound DNS name.
 */
export function hostAllowed(ctx: HttpContext, host: string | undefined): boolean {
  if (!ctx.loopbackOnly) return true;
  if (!host) return false;
  const h = hostName(host);
  return LOOPBACK_HOSTS.has(h) || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * A web socket's Origin is acceptable: absent (not a browser), the page's own origin, or listed
 * in allowedOrigins. Browsers let any page open a web socket anywhere; this keeps other sites'
 * pages from writing to the hardware through a user's browser.
 */
export function originAllowed(ctx: HttpContext, origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (ctx.allowedOrigins.includes('*') || ctx.allowedOrigins.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, head: boolean): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(head ? undefined : body);
}

/** Handles one HTTP request. */
export function handleRequest(ctx: HttpContext, req: IncomingMessage, res: ServerResponse): void {
  const head = req.method === 'HEAD';
  if (!hostAllowed(ctx, req.headers.host)) return send(res, 421, 'text/plain', 'this server answers to loopback host names only\n', head);
  if (req.method !== 'GET' && !head) {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain', 'method not allowed\n', head);
  }
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  try {
    if (path === '/' || path === '/index.html') {
      return send(res, 200, contentType('index.html'), readAsset(fileInside(staticDir(), 'index.html')!), head);
    }
    if (path === '/api/tree') return send(res, 200, 'application/json', ctx.treeJson(), head);
    if (path === '/api/status') return send(res, 200, 'application/json', JSON.stringify(ctx.status()), head);
    if (path.startsWith('/static/')) {
      const f = fileInside(staticDir(), path.slice('/static/'.length));
      if (f) return send(res, 200, contentType(f), readAsset(f), head);
    } else if (path.startsWith('/vendor/')) {
      const f = vendorFile(path.slice('/vendor/'.length));
      if (f) return send(res, 200, contentType(f), readAsset(f), head);
    } else if (path === '/pvws/pv') {
      return send(res, 426, 'text/plain', 'this is the pvws web socket: connect with a WebSocket client\n', head);
    }
    return send(res, 404, 'text/plain', 'not found\n', head);
  } catch (e) {
    return send(res, 500, 'text/plain', `${(e as Error).message}\n`, head);
  }
}
