# Shared helpers for the end-to-end tests: a private HOME, store and key per test,
# pass/fail accounting, and the closing "N passed, M failed" line.
set -uo pipefail
COFFER=${COFFER:-$(pwd)/build/coffer}
COF_SRC=${COF_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
COF_BUILD=${COF_BUILD:-$COF_SRC/build}
GEN=${GEN:-$COF_BUILD/gen_postfix}
T=$(mktemp -d /tmp/coffer-e2e.XXXXXX)
export HOME=$T/home
mkdir -p "$HOME"
KEY=$T/keys/master.key
DATA=$T/data
PASS=0
FAIL=0
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT

cof() { "$COFFER" --data-dir "$DATA" --key-file "$KEY" "$@"; }

ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { # description, command...
  local d=$1; shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}
eq() { # description, expected, actual
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (expected '$2', got '$3')"; fi
}
finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
  exit $?
}
# Count of truth rows (TSV with header) matching an awk condition.
truth_count() { awk -F'\t' "NR>1 && ($2)" "$1" | wc -l | tr -d ' '; }
