#!/bin/sh
# Runs the browser client's component tests (web/: Vitest + Testing Library in jsdom). Installs
# the tools (npm ci) when web/ lacks them or its lock file changed, as build-web.sh does.
set -eu
cd "$(dirname "$0")/../web"
if [ ! -x node_modules/.bin/vitest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec npm run --silent test
