/**
 * The dashboard's files (the Vite build in dist/dashboard/) at `/`. A request that no API route
 * matches is answered here: a file of the build, or index.html so that the dashboard's own paths
 * load the app. Static files need no API key (they hold no data; every API call the dashboard makes
 * sends the key), so this runs as an `onRequest` hook registered before the authenticator's, and
 * answering ends the hook chain there.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Options of {@link serveDashboard}. */
export interface DashboardOptions {
  /**
   * The directory of the built dashboard.
   * @default dist/dashboard of this package (`npm run build` writes it)
   */
  root?: string;
}

/** Content types by file extension; anything else is `application/octet-stream`. */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Vite names every file under assets/ by a hash of its content, so a name never changes meaning. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Everything else (index.html above all) is checked on every use, so a new build shows at once. */
const REVALIDATE = 'no-cache';

/**
 * The app's scripts and styles come only from this origin and it talks only to this origin; inline
 * styles stay allowed because uPlot and Preact set `style` attributes.
 */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/** dist/dashboard, from src/server/ (tests run the sources) or dist/src/server/ (the build). */
function defaultRoot(): string {
  const packageOrDist = fileURLToPath(new URL('../../', import.meta.url));
  return basename(packageOrDist) === 'dist'
    ? join(packageOrDist, 'dashboard')
    : join(packageOrDist, 'dist', 'dashboard');
}

/** API paths keep the API's JSON 404 (a typo in `/v1/...` is not a page of the dashboard). */
function isApiPath(path: string): boolean {
  return path === '/v1' || path.startsWith('/v1/') || path === '/metrics' || path === '/healthz' || path === '/readyz';
}

/**
 * The file under `root` that `path` names (`root` itself for `/`), or null when the path is not one a
 * file can have: undecodable, with a `..`, `\` or NUL segment, or resolving outside `root` in any
 * other way.
 */
export function fileFor(root: string, path: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..' || s.includes('\\') || s.includes('\0'))) return null;
  const file = resolve(root, ...segments);
  return file === root || file.startsWith(root + sep) ? file : null;
}

interface Found {
  readonly file: string;
  readonly size: number;
  readonly mtimeMs: number;
}

async function regularFile(file: string): Promise<Found | null> {
  try {
    const info = await stat(file);
    return info.isFile() ? { file, size: info.size, mtimeMs: info.mtimeMs } : null;
  } catch {
    return null;
  }
}

async function send(request: FastifyRequest, reply: FastifyReply, found: Found, cache: string): Promise<FastifyReply> {
  const etag = `W/"${found.size.toString(16)}-${Math.floor(found.mtimeMs).toString(16)}"`;
  void reply
    .header('cache-control', cache)
    .header('etag', etag)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
  const type = TYPES[extname(found.file).toLowerCase()] ?? 'application/octet-stream';
  if (type.startsWith('text/html')) void reply.header('content-security-policy', CSP);
  if (request.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.type(type).send(await readFile(found.file));
}

/**
 * Serves the dashboard build at `/` on `app`: its files by path (hashed assets cached for a year,
 * the rest revalidated), and index.html for `/` and any other GET that is neither an API route nor
 * a file, so that deep links load the app. A missing file under `/assets/` is a 404, not the page.
 * Without a build (no index.html) nothing is served and unknown paths stay the API's JSON 404.
 * Register it before any authentication hook: static files are public.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * serveDashboard(app); // before app.addHook('onRequest', authenticate)
 * ```
 */
export function serveDashboard(app: FastifyInstance, options: DashboardOptions = {}): void {
  const root = resolve(options.root ?? defaultRoot());
  const index = join(root, 'index.html');
  app.addHook('onRequest', async (request, reply) => {
    // A matched route is the API's; only what would be a 404 can be a file of the dashboard.
    if (request.routeOptions.url !== undefined) return;
    if (request.method !== 'GET' && request.method !== 'HEAD') return;
    const path = request.url.split('?')[0] ?? '/';
    if (isApiPath(path)) return;
    const file = fileFor(root, path);
    const found = file === null ? null : await regularFile(file);
    if (found !== null) return send(request, reply, found, path.startsWith('/assets/') ? IMMUTABLE : REVALIDATE);
    if (file === null || path.startsWith('/assets/')) return;
    const page = await regularFile(index);
    if (page !== null) return send(request, reply, page, REVALIDATE);
  });
}
