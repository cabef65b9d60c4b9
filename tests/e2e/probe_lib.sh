# Helpers for the probe tests (sourced after lib.sh). Every server they start listens on
# 127.0.0.1 only; every probe targets 127.0.0.1 only.
PIDS=()
probe_cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
  cleanup
}
trap probe_cleanup EXIT
RESPONDER=$COF_SRC/tests/e2e/probe_responder.py

freeport() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}
waitport() { # port [seconds] (address: $BIND or 127.0.0.1)
  local i
  for i in $(seq 1 $((${2:-20} * 10))); do
    python3 -c "import socket,sys;s=socket.socket();s.settimeout(0.2);sys.exit(s.connect_ex(('${BIND:-127.0.0.1}',$1)))" && return 0
    sleep 0.1
  done
  echo "# port $1 never opened" >&2
  return 1
}
# responder MODE PORT [CERT KEY]: start a wire-format responder in the background.
responder() {
  python3 "$RESPONDER" "$@" >"$T/resp.$1.$2.log" 2>&1 &
  PIDS+=($!)
  waitport "$2"
}
# probe_json PORT [more coffer args]: JSON lines of one port of 127.0.0.1.
probe_json() {
  local port=$1; shift
  "$COFFER" probe --json --timeout 1500 "$@" "127.0.0.1:$port" 2>"$T/probe.err"
}
# sev_of FILE CHECK: the severity of the finding with that check id ("" if none).
sev_of() {
  python3 - "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("check") == sys.argv[2]:
        print(o["severity"]); break
PY
}
# max_sev FILE: the highest severity among the findings (none if no findings).
max_sev() {
  python3 - "$1" <<'PY'
import json, sys
order = ["info", "low", "medium", "high", "critical"]
best = -1
for line in open(sys.argv[1]):
    o = json.loads(line)
    if "severity" in o:
        best = max(best, order.index(o["severity"]))
print(order[best] if best >= 0 else "none")
PY
}
below_medium() { case "$1" in none|info|low) return 0;; *) return 1;; esac; }
# Expect: open one gives CHECK at SEV, locked one nothing at/above medium.
expect_open() { # desc port check sev [args]
  local d=$1 port=$2 chk=$3 sev=$4; shift 4
  probe_json "$port" "$@" >"$T/o.json"
  eq "$d: open gives $chk" "$sev" "$(sev_of "$T/o.json" "$chk")"
  grep -h '"check"' "$T/o.json" | head -3 | sed 's/^/#   /'
}
expect_locked() { # desc port [closed]: "closed" when lock-down means no TCP listener
  local d=$1 port=$2
  probe_json "$port" >"$T/l.json"
  if [ "${3:-}" != closed ] && ! grep -q '"open":1' "$T/l.json"; then
    bad "$d: locked server is not listening, nothing was tested"; return
  fi
  local m; m=$(max_sev "$T/l.json")
  if below_medium "$m"; then ok "$d: locked gives nothing at/above medium ($m)"; else bad "$d: locked gives $m"; cat "$T/l.json"; fi
}
