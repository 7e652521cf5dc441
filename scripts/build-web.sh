#!/bin/sh
# Builds the browser client (web/: React + TypeScript, bundled by Vite) into $1/index.html, one
# file with everything inlined, for the server to embed. Installs the build tools (npm ci) when
# web/ lacks them or its lock file changed; otherwise touches no network.
set -eu
out=$1
cd "$(dirname "$0")/../web"
if [ ! -x node_modules/.bin/vite ] || [ ! -x node_modules/.bin/tsc ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build -- --outDir "$out" --emptyOutDir --logLevel warn
