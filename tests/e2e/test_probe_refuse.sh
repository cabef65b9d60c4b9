#!/usr/bin/env bash
# coffer probe: targets outside allowed_networks are refused before any packet is sent.
# The refusal cases run inside an empty network namespace (unshare -n), so even a broken
# build could send nothing off this machine; strace (if present) shows no AF_INET or
# AF_INET6 socket was ever created. Also: --json, --fail-on, a full port scan of
# 127.0.0.1, and usage errors. Every other probe targets loopback only.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/probe_lib.sh"

if unshare -n true 2>/dev/null; then
  for tgt in 10.1.2.3 192.0.2.0/24 "[2001:db8::1]:443" 203.0.113.7:6379; do
    unshare -n "$COFFER" probe "$tgt" >"$T/out" 2>"$T/err"; rc=$?
    eq "refused $tgt: exit 2" 2 "$rc"
    check "refusal of $tgt names allowed_networks" grep -q allowed_networks "$T/err"
    check "refusal of $tgt: nothing on stdout" test ! -s "$T/out"
  done
  # A name that resolves outside: a private /etc/hosts in a private mount namespace.
  printf '127.0.0.1 localhost\n198.51.100.9 outside.probe.test\n' >"$T/hosts"
  unshare -n -m sh -c "mount --bind '$T/hosts' /etc/hosts && exec '$COFFER' probe outside.probe.test:80" \
    >"$T/out" 2>"$T/err"; rc=$?
  eq "hostname resolving outside allowed_networks: exit 2" 2 "$rc"
  check "hostname refusal names allowed_networks" grep -q allowed_networks "$T/err"
  # Mixed: one allowed target and one refused: the whole run is refused.
  unshare -n "$COFFER" probe 127.0.0.1 10.9.9.9 >"$T/out" 2>"$T/err"; rc=$?
  eq "one refused target refuses the run: exit 2" 2 "$rc"
  if command -v strace >/dev/null; then
    unshare -n strace -f -qq -e trace=socket,connect -o "$T/strace" "$COFFER" probe 10.1.2.3 192.0.2.0/24 \
      >/dev/null 2>&1
    n=$(grep -cE 'socket\(AF_INET6?,|connect\(' "$T/strace")
    eq "strace: no AF_INET/AF_INET6 socket and no connect during a refusal" 0 "$n"
  else
    echo "# strace not installed: socket check skipped"
  fi
else
  bad "unshare -n not permitted: refusal tests could not run in an empty namespace"
fi
# Config widens allowed_networks; the refusal follows the config (still in a namespace).
printf 'allowed_networks = 192.0.2.0/24\n' >"$T/wide.conf"
unshare -n "$COFFER" --config "$T/wide.conf" probe 127.0.0.1 >"$T/out" 2>"$T/err"; rc=$?
eq "loopback refused when allowed_networks excludes it" 2 "$rc"
unshare -n "$COFFER" probe 10.0.0.0/8 >"$T/out" 2>"$T/err"; rc=$?
eq "a /8 is too big to scan: exit 2" 2 "$rc"
check "too-big message says so" grep -q 'too big' "$T/err"
unshare -n "$COFFER" probe ::/64 >"$T/out" 2>"$T/err"; rc=$?
eq "an IPv6 /64 is too big to scan: exit 2" 2 "$rc"

# ---- usage ----
"$COFFER" probe >/dev/null 2>&1; eq "no target: exit 2" 2 $?
"$COFFER" probe --fail-on severe 127.0.0.1 >/dev/null 2>&1; eq "bad --fail-on: exit 2" 2 $?
"$COFFER" probe --ports 0-5 127.0.0.1 >/dev/null 2>&1; eq "bad --ports: exit 2" 2 $?
"$COFFER" probe --bogus 127.0.0.1 >/dev/null 2>&1; eq "unknown option: exit 2" 2 $?
"$COFFER" help >"$T/help" 2>&1; check "usage lists probe" grep -q 'probe TARGET' "$T/help"

# ---- findings, --json, --fail-on, a targets file ----
p=$(freeport); responder couchdb-locked "$p"   # a low finding (version banner)
q=$(freeport); responder coffer-plain "$q"     # a critical finding
"$COFFER" probe --json "127.0.0.1:$p" "127.0.0.1:$q" >"$T/j" 2>"$T/e"; rc=$?
eq "critical finding, default --fail-on high: exit 3" 3 "$rc"
check "--json output parses (json.tool --json-lines)" bash -c "python3 -m json.tool --json-lines '$T/j' >/dev/null"
check "--json ends with a summary" bash -c "tail -1 '$T/j' | grep -q '\"summary\"'"
check "each finding has target, port, service, evidence, severity, fix" python3 - "$T/j" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
f = [r for r in rows if "summary" not in r]
assert f and all(all(k in r for k in ("target", "port", "service", "evidence", "severity", "fix")) for r in f)
PY
"$COFFER" probe --fail-on critical "127.0.0.1:$p" >/dev/null 2>&1; eq "only a low finding, --fail-on critical: exit 0" 0 $?
"$COFFER" probe --fail-on low "127.0.0.1:$p" >/dev/null 2>&1; eq "low finding, --fail-on low: exit 3" 3 $?
printf '# my hosts\n127.0.0.1:%s\n\nlocalhost:%s\n' "$p" "$q" >"$T/targets"
"$COFFER" probe --json "@$T/targets" >"$T/j2" 2>/dev/null; rc=$?
eq "targets file: exit 3" 3 "$rc"
check "targets file: both ports probed" bash -c "grep -q '\"port\":$p' '$T/j2' && grep -q '\"port\":$q' '$T/j2'"
"$COFFER" probe --min-severity high --json "127.0.0.1:$p" >"$T/j3" 2>/dev/null
eq "--min-severity hides lower findings" 1 "$(wc -l <"$T/j3")"

# ---- the whole loopback port range (no timing assertion; duration printed) ----
t0=$(date +%s.%N)
"$COFFER" probe --json --ports all 127.0.0.1 >"$T/all" 2>"$T/all.err"; rc=$?
t1=$(date +%s.%N)
echo "# full port scan of 127.0.0.1 took $(python3 -c "print(round($t1-$t0,1))") s (exit $rc)"
check "full port scan completes (exit 0 or 3)" test "$rc" = 0 -o "$rc" = 3
check "full port scan finds the plaintext coffer responder" grep -q "\"port\":$q,\"service\":\"coffer\"" "$T/all"
check "full port scan summary counts 65535 ports" grep -q '"ports_per_host":65535' "$T/all"

finish
