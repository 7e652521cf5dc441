/// <reference types="vitest/config" />
// Builds index.html with the bundle (React, the app, its style sheet) inlined into it: the server
// embeds that one file (cmake/EmbedFile.cmake), so the page needs nothing else from it. Also the
// component tests' settings (Vitest, jsdom).
import { defineConfig, type Plugin } from 'vite';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function inlineBundle(): Plugin {
  return {
    name: 'parley-inline-bundle',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const html = Object.values(bundle).find((f) => f.type === 'asset' && f.fileName === 'index.html');
      if (!html || html.type !== 'asset') this.error('no index.html in the bundle');
      let page = String(html.source);
      for (const [name, file] of Object.entries(bundle)) {
        if (file.type === 'chunk') {
          const tag = new RegExp(`<script type="module"[^>]*src="[^"]*/${escape(file.fileName)}"[^>]*></script>`);
          if (!tag.test(page)) this.error(`index.html does not load ${file.fileName}`);
          // "</script" inside the code would end the element early.
          const code = file.code.replace(/<\/script/gi, '<\\/script');
          page = page.replace(tag, () => `<script type="module">${code}</script>`);
          delete bundle[name];
        } else if (file.fileName.endsWith('.css')) {
          const tag = new RegExp(`<link rel="stylesheet"[^>]*href="[^"]*/${escape(file.fileName)}"[^>]*>`);
          if (!tag.test(page)) this.error(`index.html does not load ${file.fileName}`);
          const css = String(file.source).replace(/<\/style/gi, '<\\/style');
          page = page.replace(tag, () => `<style>${css}</style>`);
          delete bundle[name];
        }
      }
      html.source = page;
    },
  };
}

export default defineConfig({
  plugins: [inlineBundle()],
  build: {
    target: 'es2022',
    modulePreload: false, // one inlined module: nothing to preload
    assetsInlineLimit: Number.MAX_SAFE_INTEGER,
    cssCodeSplit: false,
    outDir: 'dist',
    emptyOutDir: true,
    reportCompressedSize: false,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
  },
});
