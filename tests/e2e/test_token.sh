#!/usr/bin/env bash
# test_token.sh - `coffer token create|list|revoke` with the real binary: tokens are
# credentials for principals that an approved change introduced, created and revoked
# by administrators only; file modes, the token appearing nowhere on disk, list without
# secrets, revocation, audit records, and bad input with its exit codes and messages.
. "$(dirname "$0")/lib.sh"

mode() { stat -c %a "$1"; }
# The token must not appear in the data directory, whole or its secret part.
nowhere() { # token
  ! grep -rqF -- "$1" "$DATA" && ! grep -rqF -- "${1:21}" "$DATA"
}
ntokens() { python3 -c "import json; print(len(json.load(open('$DATA/tokens.json'))['tokens']))"; }

cof init >/dev/null 2>&1
check "init" test -f "$DATA/keyring"
check "three first administrators" govboot
eq "admin token files are 0600" 600 "$(mode "$ADMT/adm1.token")"

# ---- a token only for a principal an approved change introduced
cof token create --principal nobody >/dev/null 2>"$T/err"
eq "create without the caller's token: exit 1" 1 $?
check "create without --token-file: says so" grep -q -- "--token-file" "$T/err"
as_admin 1 token create --principal nobody >/dev/null 2>"$T/err"
eq "create for an unknown principal: exit 1" 1 $?
check "unknown principal: needs an approved change" grep -q "approved change" "$T/err"
as_admin 1 token create --role support --tenant acme --principal x >/dev/null 2>"$T/err"
eq "--role on token create: exit 2" 2 $?
check "--role on token create: points to coffer acl grant" grep -q "coffer acl grant" "$T/err"
as_admin 1 acl grant pending --role support --tenant acme >/dev/null 2>&1
as_admin 1 token create --principal pending >/dev/null 2>"$T/err"
eq "create for a principal whose grant waits for approval: exit 1" 1 $?

# ---- create for each role, token on stdout only
declare -A TOK
for role in ingest support analyst auditor metrics customer; do
  tenant=acme
  case $role in ingest|auditor|metrics) tenant='*';; esac
  check "grant $role approved" mkgrant "p-$role" $role "$tenant"
  out=$(as_admin 1 token create --principal "p-$role" 2>"$T/err")
  rc=$?
  eq "create $role: exit 0" 0 $rc
  check "create $role: stdout is exactly one token" \
    grep -qE '^cof_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$' <<<"$out"
  eq "create $role: one line on stdout" 1 "$(printf '%s\n' "$out" | wc -l)"
  check "create $role: stderr names principal and 'shown once'" \
    grep -q "principal p-$role, expires .*shown once; store it in a 0600 file" "$T/err"
  check "create $role: stderr does not contain the token" bash -c "! grep -qF -- '$out' '$T/err'"
  TOK[$role]=$out
done
printf '%s\n' "${TOK[support]}" >"$T/sup.tok"; chmod 600 "$T/sup.tok"
COFFER_TOKEN_FILE=$T/sup.tok cof token create --principal p-analyst >/dev/null 2>"$T/err"
eq "a non-administrator cannot create tokens: exit 1" 1 $?
check "non-administrator: says so" grep -q "not an administrator" "$T/err"
d30a=$(date -u -d '+30 days' +%Y-%m-%d)
as_admin 2 token create --principal p-analyst >/dev/null 2>"$T/err"
d30b=$(date -u -d '+30 days' +%Y-%m-%d)
check "default expiry is 30 days" grep -qE "expires ($d30a|$d30b)T" "$T/err"
as_admin 1 token create --principal p-analyst --expires never >/dev/null 2>"$T/err"
eq "tokens always expire: never is refused (exit 2)" 2 $?

# ---- --out FILE: 0600, O_EXCL, nothing on stdout
out=$(as_admin 1 token create --principal p-analyst --out "$T/tok.out" 2>"$T/err")
eq "--out: exit 0" 0 $?
eq "--out: nothing on stdout" "" "$out"
eq "--out file mode 0600" 600 "$(mode "$T/tok.out")"
check "--out file holds a token" grep -qE '^cof_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$' "$T/tok.out"
TOK[out]=$(cat "$T/tok.out")
before=$(cat "$T/tok.out")
as_admin 1 token create --principal p-analyst --out "$T/tok.out" >/dev/null 2>"$T/err"
eq "--out on an existing file: exit 1" 1 $?
check "--out existing: message says it exists" grep -qi "exists" "$T/err"
eq "--out existing: file untouched" "$before" "$(cat "$T/tok.out")"
umask 000
as_admin 1 token create --principal p-analyst --out "$T/tok2.out" >/dev/null 2>&1
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
check "the audit trail records token creation" grep -q '"action":"token.create"' "$DATA"/audit/*.log
check "the audit trail never holds a token" bash -c "! grep -qF -- '${TOK[support]:21}' $DATA/audit/*.log"

# ---- list: ids, principals, grants, state; never a secret
n=$(ntokens)
cof token list >"$T/list" 2>&1
eq "list: exit 0" 0 $?
eq "list: header + every token" $((n + 1)) "$(wc -l <"$T/list")"
check "list shows the support grant" grep -q "p-support .*live *support:acme" "$T/list"
check "list shows an ingest grant on *" grep -q "ingest:\*" "$T/list"
for k in "${!TOK[@]}"; do
  check "list has no secret of $k" bash -c "! grep -qF -- '${TOK[$k]:21}' '$T/list'"
done
cof token list --json >"$T/list.json"
eq "list --json: exit 0" 0 $?
check "list --json parses, every token live" \
  python3 -c "import json,sys; d=json.load(open('$T/list.json')); sys.exit(0 if len(d)==$n and all(t['state']=='live' for t in d) else 1)"
check "list --json has no hash field" bash -c "! grep -q '\"hash\"' '$T/list.json'"

# ---- revoke: any administrator, at once
sid=${TOK[support]:4:16}
cof token revoke "$sid" 2>"$T/err"
eq "revoke without the caller's token: exit 1" 1 $?
as_admin 2 token revoke "$sid" 2>"$T/err"
eq "revoke: exit 0" 0 $?
check "revoke: confirmation names the id" grep -q "revoked token $sid" "$T/err"
check "revoked token shows as revoked" grep -q "^$sid .*revoked" <(cof token list)
check "the audit trail records the revocation" grep -q '"action":"token.revoke"' "$DATA"/audit/*.log
as_admin 2 token revoke "$sid" 2>/dev/null
eq "revoke again: exit 0 (idempotent)" 0 $?
as_admin 2 token revoke 0123456789abcdef 2>"$T/err"
eq "revoke unknown id: exit 1" 1 $?
check "revoke unknown: clear message" grep -q "no token with id 0123456789abcdef" "$T/err"
as_admin 2 token revoke nothex 2>"$T/err"
eq "revoke malformed id: exit 2" 2 $?
check "revoke malformed: message" grep -q "16 lowercase hex digits" "$T/err"

# ---- bad input to create
bad_create() { # description, expected message regexp, args...
  local d=$1 msg=$2; shift 2
  local o
  o=$(as_admin 1 token create "$@" 2>"$T/err")
  local rc=$?
  eq "$d: exit 2" 2 $rc
  eq "$d: nothing on stdout" "" "$o"
  check "$d: message" grep -qE -- "$msg" "$T/err"
}
n_before=$(ntokens)
bad_create "bad duration" "bad --expires" --principal p-analyst --expires 3fortnights
bad_create "expiry in the past" "in the past" --principal p-analyst --expires 2020-01-01T00:00:00Z
bad_create "missing --principal" "required" --expires 1d
bad_create "unknown option" "unknown option --bogus" --principal p-analyst --bogus
eq "no token created by bad input" "$n_before" "$(ntokens)"
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
as_admin 1 token create --principal p-analyst >/dev/null 2>"$T/err"
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
n0=$(ntokens)
for i in 1 2 3 4 5 6; do
  as_admin 1 token create --principal p-analyst >/dev/null 2>&1 &
done
wait
eq "6 concurrent creates: 6 more tokens" $((n0 + 6)) "$(ntokens)"
check "the audit trail verifies after concurrent creators" cof audit verify

finish
