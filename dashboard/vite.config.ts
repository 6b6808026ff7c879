/**
 * The dashboard's build: `vite build --config dashboard/vite.config.ts` writes dist/dashboard/, which
 * `busbar start` serves at `/` (src/server/static.ts). Preact's JSX goes through Vite's own Oxc
 * transform, so no Babel preset is needed.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // One small app: a single script and stylesheet are fewer round trips than chunks.
    chunkSizeWarningLimit: 200,
  },
  server: { proxy: { '/v1': 'http://127.0.0.1:4080' } },
});
