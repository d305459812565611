#!/usr/bin/env bash
# bunker vs restic vs borg, same machine, same data, same run. See bench/README.md.
#
#   bench/run.sh             1 GiB data set, 3 rounds (BENCH_SIZE_MIB, BENCH_RUNS override)
#   bench/run.sh --quick     128 MiB, 1 round: a sanity pass (results go to bench/work/, not bench/results/)
#   bench/run.sh --profile   also ask bunker for its per-stage profile (backup/restore --profile) and print it
#   env: BENCH_SIZE_MIB, BENCH_RUNS, BENCH_DROP_CACHES=0, BENCH_KEEP_WORK=1, BENCH_BUNKER_REF=<git ref>, BENCH_BUNKER_DIR=<dir>
#
# Needs root (or sudo) only to install missing tools with apt-get and to drop the page cache.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
args=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --profile) args+=(--profile) ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$quick" = 1 ]; then
  export BENCH_SIZE_MIB="${BENCH_SIZE_MIB:-128}" BENCH_RUNS="${BENCH_RUNS:-1}" BENCH_QUICK=1
fi
export BENCH_SIZE_MIB="${BENCH_SIZE_MIB:-1024}" BENCH_RUNS="${BENCH_RUNS:-3}"

say() { printf '== %s\n' "$*" >&2; }  # progress on stderr; stdout gets the table only

# Node 24 from the project's devDependencies (the system node may be older).
if [ ! -x node_modules/.bin/node ]; then
  say "node_modules/.bin/node is missing: running npm ci"
  npm ci --no-audit --no-fund >&2
fi

# The peers and GNU time, from Debian packages, installed only when missing.
sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then sudo_cmd=(sudo); fi
fi
missing=()
command -v restic >/dev/null || missing+=(restic)
command -v borg >/dev/null || missing+=(borgbackup)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "bench/run.sh: missing ${missing[*]} and no apt-get here: install them by hand" >&2
    exit 1
  fi
  say "installing missing packages with apt-get: ${missing[*]} (running apt-get update first)"
  "${sudo_cmd[@]}" apt-get update -qq >&2
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "installed: ${missing[*]}"
else
  say "restic, borg and GNU time already installed (nothing to install)"
fi

say "data set: ${BENCH_SIZE_MIB} MiB; rounds: ${BENCH_RUNS}"
exec node_modules/.bin/node bench/compare.ts "${args[@]}"
