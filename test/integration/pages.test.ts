import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { callWorker } from '../helpers/worker';

/**
 * The static pages (public/, served by Workers static assets) load nothing from
 * another origin: every `src`/`href` and every module import is a path on this one,
 * and the Content-Security-Policy the Worker adds to every page (src/app.ts) enforces
 * it in the browser. `env.ASSETS` is the binding the deployed Worker gets; the file
 * checks fetch from it directly, and the last test goes through the Worker entry point.
 */
const PAGES = ['/', '/docs/', '/demo/'];
const BASE = 'https://edge.test';

const fetchAsset = (path: string) => env.ASSETS.fetch(new URL(path, BASE));

/** A reference that stays on this origin: a path, a fragment, or the empty data: icon. */
const sameOrigin = (ref: string) =>
  ref === 'data:,' || ref.startsWith('#') || (ref.startsWith('/') && !ref.startsWith('//'));

/** The `src`/`href` values of an HTML page. */
function references(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)\s*=\s*["']([^"']*)["']/gi)].map((match) => match[1] ?? '');
}

/** The module specifiers of a JS file (`import ... from '...'`, `import('...')`). */
function imports(js: string): string[] {
  return [...js.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map((match) => match[1] ?? '');
}

describe('static pages', () => {
  it.each(PAGES)('%s is HTML that references only same-origin assets', async (page) => {
    // Through the Worker entry point: it adds the page policy.
    const res = await callWorker(page);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'.*connect-src 'self'/);
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>\s*\S/i); // no inline script
    const refs = references(html);
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((ref) => !sameOrigin(ref))).toEqual([]);
  });

  it('serves every script, style and module the pages load, none of them from elsewhere', async () => {
    const seen = new Set<string>();
    const queue = (
      await Promise.all(PAGES.map(async (page) => references(await (await fetchAsset(page)).text())))
    )
      .flat()
      .filter((ref) => /\.(js|css)$/.test(ref));
    while (queue.length > 0) {
      const path = queue.shift() ?? '';
      if (seen.has(path)) continue;
      seen.add(path);
      const res = await fetchAsset(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      const text = await res.text();
      expect({ path, urls: text.match(/\bhttps?:\/\/[^\s'"`)]+/g) }).toEqual({ path, urls: null });
      if (!path.endsWith('.js')) continue;
      for (const specifier of imports(text)) {
        expect({ path, specifier, relative: /^\.{1,2}\//.test(specifier) }).toMatchObject({ relative: true });
        queue.push(new URL(specifier, new URL(path, BASE)).pathname);
      }
    }
    expect([...seen]).toEqual(
      expect.arrayContaining([
        '/docs/docs.js',
        '/docs/schema.js',
        '/demo/demo.js',
        '/assets/edge.js',
        '/assets/dom.js',
      ]),
    );
  });

  it('does not serve the type declarations or the assets config', async () => {
    for (const path of ['/assets/edge.d.ts', '/_headers', '/.assetsignore']) {
      expect({ path, status: (await fetchAsset(path)).status }).toEqual({ path, status: 404 });
    }
  });

  it('serves the pages through the Worker, with a request id and a same-origin policy', async () => {
    for (const path of PAGES) {
      const res = await callWorker(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('x-request-id')).toMatch(/^[\w=-]{8,}$/);
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      // No page may be framed, not even by this origin (clickjacking the token box).
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it("answers an unknown page with the assets' 404, with a request id too", async () => {
    const missing = await callWorker('/no-such-page');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-request-id')).toBeTruthy();
  });
});
