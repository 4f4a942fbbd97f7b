import { defineConfig, type Plugin } from 'vite';
import { sourcesHash } from './sources-hash.mjs';

// The bundle is built into internal/studio/dist, which the chatflow binary
// embeds; SOURCES.sha256 records the sources it was built from, so that a
// test (and make verify) can tell when it is stale without Node.
function recordSources(): Plugin {
  return {
    name: 'chatflow-record-sources',
    apply: 'build',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'SOURCES.sha256', source: sourcesHash(import.meta.dirname) + '\n' });
    },
  };
}

export default defineConfig({
  plugins: [recordSources()],
  build: {
    outDir: '../../internal/studio/dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
});
