// Builds index.html with the TypeScript bundled and inlined into it: the server embeds that one
// file (cmake/EmbedFile.cmake), so the page needs nothing else from it.
import { defineConfig, type Plugin } from 'vite';

function inlineScripts(): Plugin {
  return {
    name: 'parley-inline-scripts',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const html = Object.values(bundle).find((f) => f.type === 'asset' && f.fileName === 'index.html');
      if (!html || html.type !== 'asset') this.error('no index.html in the bundle');
      let page = String(html.source);
      for (const [name, chunk] of Object.entries(bundle)) {
        if (chunk.type !== 'chunk') continue;
        const tag = new RegExp(`<script type="module"[^>]*src="[^"]*/${chunk.fileName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"[^>]*></script>`);
        if (!tag.test(page)) this.error(`index.html does not load ${chunk.fileName}`);
        // "</script" inside the code would end the element early.
        const code = chunk.code.replace(/<\/script/gi, '<\\/script');
        page = page.replace(tag, () => `<script type="module">${code}</script>`);
        delete bundle[name];
      }
      html.source = page;
    },
  };
}

export default defineConfig({
  plugins: [inlineScripts()],
  build: {
    target: 'es2022',
    modulePreload: false, // one inlined module: nothing to preload
    assetsInlineLimit: Number.MAX_SAFE_INTEGER,
    cssCodeSplit: false,
    outDir: 'dist',
    emptyOutDir: true,
    reportCompressedSize: false,
  },
});
