// Bundles the browser part of the Vercel AI SDK (`ai`, the version pinned in
// package.json, from node_modules) for the /chat/ demo page: `AbstractChat`,
// `DefaultChatTransport` and the version (`AI_VERSION`) as one ES module, served by the Worker's static assets like
// every other page file (no CDN). The bundle is git-ignored; wrangler.toml's [build]
// runs this before `wrangler dev` and `wrangler deploy`. Run alone: node scripts/build-chat.mjs
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where the page imports it from (public/chat/chat.js: `./vendor/ai.js`). */
export const CHAT_BUNDLE = path.join(ROOT, 'public/chat/vendor/ai.js');

/**
 * @param {string} [outfile]
 * @returns {string} the bundle's path
 */
export function buildChatBundle(outfile = CHAT_BUNDLE) {
  const { version, license } = JSON.parse(
    readFileSync(path.join(ROOT, 'node_modules/ai/package.json'), 'utf8'),
  );
  buildSync({
    stdin: {
      contents: `export { AbstractChat, DefaultChatTransport } from 'ai';\nexport const AI_VERSION = ${JSON.stringify(version)};`,
      resolveDir: ROOT,
      sourcefile: 'chat-sdk.js',
      loader: 'js',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'eof',
    banner: {
      js: `// ai ${version} (${license}, https://github.com/vercel/ai), bundled by scripts/build-chat.mjs`,
    },
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`built ${path.relative(ROOT, buildChatBundle())}`);
}
