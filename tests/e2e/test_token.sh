#!/usr/bin/env bash
# test_token.sh - `coffer token create|list|revoke` with the real binary: tokens for
# every role, file modes, the token appearing nowhere on disk, list without secrets,
# revocation, and bad input with its exit codes and messages.
. "$(dirname "$0")/lib.sh"

mode() { stat -c %a "$1"; }
# The token must not appear in the data directory, whole or its secret part.
nowhere() { # token
  ! grep -rqF -- "$1" "$DATA" && ! grep -rqF -- "${1:21}" "$DATA"
}

cof init >/dev/null 2>&1
check "init" test -f "$DATA/keyring"

# ---- create for each role, token on stdout only
declare -A TOK
for role in ingest support analyst auditor admin metrics; do
  tenant=acme
  case $role in ingest|admin|auditor|metrics) tenant='*';; esac
  out=$(cof token create --role $role --tenant "$tenant" --principal "p-$role" 2>"$T/err")
  rc=$?
  eq "create $role: exit 0" 0 $rc
  check "create $role: stdout is exactly one token" \
    grep -qE '^cof_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$' <<<"$out"
  eq "create $role: one line on stdout" 1 "$(printf '%s\n' "$out" | wc -l)"
  check "create $role: stderr names principal, role and 'shown once'" \
    grep -q "principal p-$role: role $role.*shown once; store it in a 0600 file" "$T/err"
  check "create $role: stderr does not contain the token" bash -c "! grep -qF -- '$out' '$T/err'"
  TOK[$role]=$out
done
d30a=$(date -u -d '+30 days' +%Y-%m-%d)
out=$(cof token create --role customer --tenant acme 2>"$T/err")
eq "create customer: exit 0" 0 $?
TOK[customer]=$out
check "default principal is tok-<16 hex>" grep -qE 'principal tok-[0-9a-f]{16}:' "$T/err"
d30b=$(date -u -d '+30 days' +%Y-%m-%d)
check "default expiry is 30 days" grep -qE "expires ($d30a|$d30b)T" "$T/err"

# ---- --out FILE: 0600, O_EXCL, nothing on stdout
out=$(cof token create --role analyst --tenant acme,beta --expires never --out "$T/tok.out" 2>"$T/err")
eq "--out: exit 0" 0 $?
eq "--out: nothing on stdout" "" "$out"
eq "--out file mode 0600" 600 "$(mode "$T/tok.out")"
check "--out file holds a token" grep -qE '^cof_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$' "$T/tok.out"
TOK[out]=$(cat "$T/tok.out")
before=$(cat "$T/tok.out")
cof token create --role analyst --tenant acme --out "$T/tok.out" >/dev/null 2>"$T/err"
eq "--out on an existing file: exit 1" 1 $?
check "--out existing: message says it exists" grep -qi "exists" "$T/err"
eq "--out existing: file untouched" "$before" "$(cat "$T/tok.out")"
umask 000
cof token create --role analyst --tenant acme --out "$T/tok2.out" >/dev/null 2>&1
umask 022
eq "--out file is 0600 even under umask 000" 600 "$(mode "$T/tok2.out")"
TOK[out2]=$(cat "$T/tok2.out")

# ---- files on disk
eq "access.json mode 0600" 600 "$(mode "$DATA/access.json")"
eq "tokens.json mode 0600" 600 "$(mode "$DATA/tokens.json")"
for k in "${!TOK[@]}"; do
  check "token ($k) appears nowhere in the data directory" nowhere "${TOK[$k]}"
done
check "access.json holds the customer grant" grep -q '"customer"' "$DATA/access.json"
check "access.json names p-support" grep -q '"p-support"' "$DATA/access.json"

# ---- list: ids, principals, grants, state; never a secret
cof token list >"$T/list" 2>&1
eq "list: exit 0" 0 $?
eq "list: header + 9 tokens" 10 "$(wc -l <"$T/list")"
check "list shows the support grant" grep -q "p-support .*live *support:acme" "$T/list"
check "list shows an ingest grant on *" grep -q "ingest:\*" "$T/list"
check "list shows 'never' for --expires never" grep -q "never .*analyst:acme,beta" "$T/list"
for k in "${!TOK[@]}"; do
  check "list has no secret of $k" bash -c "! grep -qF -- '${TOK[$k]:21}' '$T/list'"
done
cof token list --json >"$T/list.json"
eq "list --json: exit 0" 0 $?
check "list --json parses and has 9 tokens" \
  python3 -c "import json,sys; d=json.load(open('$T/list.json')); sys.exit(0 if len(d)==9 and all(t['state']=='live' for t in d) else 1)"
for k in "${!TOK[@]}"; do
  check "list --json has no secret of $k" bash -c "! grep -qF -- '${TOK[$k]:21}' '$T/list.json'"
done
check "list --json has no hash field" bash -c "! grep -q '\"hash\"' '$T/list.json'"

# ---- revoke
sid=${TOK[support]:4:16}
cof token revoke "$sid" 2>"$T/err"
eq "revoke: exit 0" 0 $?
check "revoke: confirmation names the id" grep -q "revoked token $sid" "$T/err"
check "revoked token shows as revoked" grep -q "^$sid .*revoked" <(cof token list)
check "tokens.json records the revocation" \
  python3 -c "import json,sys; d=json.load(open('$DATA/tokens.json')); sys.exit(0 if [t for t in d['tokens'] if t['id']=='$sid' and 'revoked' in t] else 1)"
cof token revoke "$sid" 2>/dev/null
eq "revoke again: exit 0 (idempotent)" 0 $?
cof token revoke 0123456789abcdef 2>"$T/err"
eq "revoke unknown id: exit 1" 1 $?
check "revoke unknown: clear message" grep -q "no token with id 0123456789abcdef" "$T/err"
cof token revoke nothex 2>"$T/err"
eq "revoke malformed id: exit 2" 2 $?
check "revoke malformed: message" grep -q "16 lowercase hex digits" "$T/err"
cof token revoke 2>/dev/null
eq "revoke without id: exit 2" 2 $?

# ---- bad input to create
bad_create() { # description, expected message regexp, args...
  local d=$1 msg=$2; shift 2
  local o
  o=$(cof token create "$@" 2>"$T/err")
  local rc=$?
  eq "$d: exit 2" 2 $rc
  eq "$d: nothing on stdout" "" "$o"
  check "$d: message" grep -qE -- "$msg" "$T/err"
}
n_before=$(python3 -c "import json; print(len(json.load(open('$DATA/tokens.json'))['tokens']))")
bad_create "unknown role" "unknown role 'root'" --role root --tenant acme
bad_create "customer with *" "customer needs exactly one tenant" --role customer --tenant '*'
bad_create "customer with two tenants" "customer needs exactly one tenant" --role customer --tenant a,b
bad_create "bad tenant" "invalid tenant name" --role support --tenant 'a b'
bad_create "empty tenant" "invalid tenant name" --role support --tenant 'a,,b'
bad_create "bad duration" "bad --expires" --role support --tenant acme --expires 3fortnights
bad_create "expiry in the past" "in the past" --role support --tenant acme --expires 2020-01-01T00:00:00Z
bad_create "bad principal" "invalid --principal" --role support --tenant acme --principal 'a b'
bad_create "missing --tenant" "required" --role support
bad_create "unknown option" "unknown option --bogus" --role support --tenant acme --bogus
n_after=$(python3 -c "import json; print(len(json.load(open('$DATA/tokens.json'))['tokens']))")
eq "no token created by bad input" "$n_before" "$n_after"
cof token frobnicate 2>"$T/err"
eq "unknown subcommand: exit 2" 2 $?

# ---- help
for sub in create list revoke; do
  cof token $sub --help >"$T/help" 2>&1
  eq "token $sub --help: exit 0" 0 $?
  check "token $sub --help: usage" grep -q "usage: coffer token $sub" "$T/help"
done
check "coffer --help lists token" grep -q "token create|list|revoke" <("$COFFER" --help 2>&1)

# ---- an access.json opened up to others is refused
chmod 0644 "$DATA/access.json"
cof token create --role support --tenant acme >/dev/null 2>"$T/err"
eq "create with a 0644 access.json: exit 1" 1 $?
check "message says how to fix it" grep -q "chmod 600" "$T/err"
chmod 0600 "$DATA/access.json"

# ---- a wrong master key opens nothing
mv "$KEY" "$KEY.real"
head -c 32 /dev/urandom >"$KEY"; chmod 600 "$KEY"
cof token list >/dev/null 2>"$T/err"
eq "wrong master key: exit 1" 1 $?
mv "$KEY.real" "$KEY"

# ---- concurrent creators lose nothing
n0=$(python3 -c "import json; print(len(json.load(open('$DATA/tokens.json'))['tokens']))")
p0=$(python3 -c "import json; print(len(json.load(open('$DATA/access.json'))['principals']))")
for i in 1 2 3 4 5 6; do
  cof token create --role analyst --tenant acme >/dev/null 2>&1 &
done
wait
n1=$(python3 -c "import json; print(len(json.load(open('$DATA/tokens.json'))['tokens']))")
p1=$(python3 -c "import json; print(len(json.load(open('$DATA/access.json'))['principals']))")
eq "6 concurrent creates: 6 more tokens" $((n0 + 6)) "$n1"
eq "6 concurrent creates: 6 more principals" $((p0 + 6)) "$p1"

# ---- every create and revoke is in the audit trail (with the token id, never the secret)
ncreate=$(cof audit show --action token.create --json | wc -l)
eq "audit: one token.create record per token" "$n1" "$ncreate"
check "audit: the revoke of $sid is recorded with its principal and role" \
  bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' audit show --action token.revoke --json | grep -q '\"token\":\"$sid\",\"principal\":\"[^\"-][^\"]*\",\"role\":\"support'"
check "audit: no token secret in the trail" bash -c "! grep -rq 'cof_[0-9a-f]\\{16\\}_' '$DATA/audit'"
check "audit: trail intact after concurrent CLI writers" cof audit verify

finish
