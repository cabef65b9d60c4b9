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

# Governance helpers (docs/GOVERNANCE.md): three first administrators, then grants as
# reviewed changes approved by as many of them as the change needs.
ADMT=$T/adm
jfield() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
govboot() {
  [ -s "$ADMT/adm1.token" ] && return 0
  cof acl bootstrap --admins adm1,adm2,adm3 --token-dir "$ADMT" >/dev/null 2>&1
}
as_admin() { # N command... : run a coffer command as administrator admN
  local n=$1; shift
  COFFER_TOKEN_FILE=$ADMT/adm$n.token cof "$@"
}
mkgrant() { # name role tenants [expires]: proposed by adm1, approved until applied
  govboot || return 1
  local out id st n
  out=$(as_admin 1 acl grant "$1" --role "$2" --tenant "$3" --expires "${4:-30d}" --json 2>/dev/null) ||
    return 1
  id=$(jfield "$out" id); st=$(jfield "$out" state)
  for n in 2 3; do
    [ "$st" = applied ] && break
    out=$(as_admin $n acl approve "$id" --json 2>/dev/null) || return 1
    st=$(jfield "$out" state)
  done
  [ "$st" = applied ]
}
mktoken() { # name role tenants [expires]: an approved grant and a token in $T/tok.NAME
  local e=${4:-30d}
  mkgrant "$@" || return 1
  [ "$e" = never ] && e=30d
  as_admin 1 token create --principal "$1" --expires "$e" --out "$T/tok.$1" 2>/dev/null
}

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
