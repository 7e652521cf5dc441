#!/usr/bin/env bash
# Installs the Debian packages Parley needs, only when one is missing, so a second run costs
# a dpkg query and nothing else. Usage: scripts/install-deps.sh [build|test|fuzz|cluster]
set -euo pipefail
mode=${1:-build}

build_pkgs=(cmake g++ make pkg-config ccache libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libpq-dev libhiredis-dev libjwt-dev libsodium-dev libspdlog-dev
  liburing-dev libfmt-dev libcli11-dev libgtest-dev zlib1g-dev libicu-dev nodejs npm)
# redis-server (with redis-cli, from redis-tools): the cluster part's unit tests and the cluster's
# integration tests start real servers and a Redis Cluster; libhiredis-dev above is the link's
# formatter and reader (0.14); nginx: the cluster tests' load balancer.
test_pkgs=(chromium postgresql redis-server nginx)
# make cluster / make bench-cluster: Redis, a throw-away PostgreSQL, nginx in front.
cluster_pkgs=(postgresql redis-server nginx curl)
# libFuzzer: Debian's clang 14 and its runtimes (tests/fuzz/README.md).
fuzz_pkgs=(clang-14 libclang-rt-14-dev llvm-14)

pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
[ "$mode" = fuzz ] && pkgs+=("${fuzz_pkgs[@]}")
[ "$mode" = cluster ] && pkgs+=("${cluster_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node/npm may come from outside Debian's packages on some machines: accept working binaries.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-remove: Boost 1.74 and 1.81 dev packages conflict; never let apt swap one for the other.
apt-get install -y -qq --no-remove "${missing[@]}"
