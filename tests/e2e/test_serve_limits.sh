#!/usr/bin/env bash
# Hostile clients against a real server: brute force until lockout (per source, not
# per machine), oversized and malformed requests, a slowloris client, 5,000 idle
# connections; and durability: a 202 survives kill -9 and SIGTERM.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

CONF=$T/coffer.conf
printf 'data_dir = %s\nkey_file = %s\nlockout_failures = 10\nmax_body_bytes = 1048576\nheader_timeout = 3\n' \
  "$DATA" "$KEY" >"$CONF"
cof() { "$COFFER" --config "$CONF" "$@"; }
cof init >/dev/null
mktoken ing ingest '*'
mktoken sup support '*'
mktoken met metrics '*'
printf 'cof_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' >"$T/tok.bogus"
chmod 600 "$T/tok.bogus"
PORT=$(free_port)
check "server starts" serve_start
FROM() { # source-address token curl-args... -> HTTP status
  local src=$1 tf=$2
  shift 2
  curl -s --cacert "$CERT" --interface "$src" -H "Authorization: Bearer $(cat "$tf")" -o /dev/null -w '%{http_code}' "$@"
}
ING() { FROM 127.0.0.4 "$T/tok.ing" "$@"; }

# ---- brute force: back-off, then lockout of that source only
codes=""
for i in $(seq 1 25); do codes="$codes $(status_of "$(api "$T/tok.bogus" GET /v1/whoami)")"; done
check "repeated bad tokens are answered 429 after a few tries" bash -c "echo '$codes' | grep -q 429"
eq "a locked-out source is refused even with a good token" 429 "$(status_of "$(api "$T/tok.sup" GET /v1/whoami)")"
eq "another source is not locked out" 200 "$(FROM 127.0.0.2 "$T/tok.sup" "https://127.0.0.1:$PORT/v1/whoami")"
eq "support may not read metrics" 403 "$(FROM 127.0.0.3 "$T/tok.sup" "https://127.0.0.1:$PORT/metrics")"
m=$(curl -s --cacert "$CERT" --interface 127.0.0.3 -H "Authorization: Bearer $(cat "$T/tok.met")" "https://127.0.0.1:$PORT/metrics")
check "metrics count the lockout" bash -c "echo '$m' | grep -q '^coffer_lockouts_total [1-9]'"
check "metrics count authentication failures" bash -c "echo '$m' | grep -q '^coffer_auth_failures_total [1-9]'"

# ---- oversized and malformed input
head -c 2000000 /dev/zero | tr '\0' 'a' >"$T/big.txt"
eq "a body over max_body_bytes is 413" 413 "$(ING -H 'Content-Type: text/plain' --data-binary @"$T/big.txt" "https://127.0.0.1:$PORT/v1/events")"
big=$(python3 -c "print('x'*40000)")
r=$(curl -s --cacert "$CERT" --interface 127.0.0.4 -o /dev/null -w '%{http_code}' -H "X-Big: $big" "https://127.0.0.1:$PORT/healthz")
# libmicrohttpd answers 431 or, when the head outgrows the connection's memory
# before it can answer, closes the connection (curl reports 000): refused either way.
check "an oversized header is refused ($r)" bash -c "[ '$r' = 000 ] || [ '$r' -ge 400 ]"
python3 -c "
for i in range(100001): print('l')" >"$T/many.txt"
eq "a batch of over 100000 lines is 413" 413 "$(ING -H 'Content-Type: text/plain' --data-binary @"$T/many.txt" "https://127.0.0.1:$PORT/v1/events")"
long=$(printf 'a%.0s' $(seq 1 500))
printf '{"time":\n{{{{\n\001\002\n{"time":"2026-11-20T10:00:00Z","recipient":"%s@x.example","status":"sent"}\n' "$long" >"$T/junk.jsonl"
eq "a batch of junk JSON lines is accepted and skipped, not fatal" 202 "$(ING -H 'Content-Type: application/x-ndjson' --data-binary @"$T/junk.jsonl" "https://127.0.0.1:$PORT/v1/events")"
eq "a bad batch id is 400" 400 "$(ING -H 'Content-Type: text/plain' -H 'Idempotency-Key: a b' --data 'x' "https://127.0.0.1:$PORT/v1/events")"
eq "the server still answers" 200 "$(curl -s --cacert "$CERT" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/healthz")"

# ---- slowloris: a client that never finishes its request head is cut off
cat >"$T/slow.py" <<'PY'
import socket, ssl, sys, time
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
s.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n")
t0 = time.time()
s.settimeout(1)
closed = False
while time.time() - t0 < 30:
    try:
        s.sendall(b"X")
        if s.recv(1) == b"":
            closed = True
            break
    except socket.timeout:
        continue
    except (OSError, ssl.SSLError):
        closed = True
        break
print("closed" if closed else "open", round(time.time() - t0, 1))
PY
python3 "$T/slow.py" "$PORT" "$CERT" >"$T/slow.out" 2>&1 &
slowpid=$!
sleep 1
eq "other clients are served while a slowloris dribbles" 200 "$(curl -s --cacert "$CERT" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/healthz")"
wait $slowpid
check "the slowloris connection is closed by the head deadline ($(cat "$T/slow.out"))" grep -q '^closed' "$T/slow.out"

# ---- 5,000 idle connections from 20 loopback addresses
cat >"$T/idle.py" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
socks = []
for i in range(5000):
    s = socket.socket()
    s.bind(("127.0.0.%d" % (10 + i % 20), 0))
    s.connect(("127.0.0.1", port))
    socks.append(s)
print("open", len(socks), flush=True)
time.sleep(8)
PY
python3 "$T/idle.py" "$PORT" >"$T/idle.out" 2>&1 &
idlepid=$!
for _ in $(seq 1 150); do grep -q open "$T/idle.out" 2>/dev/null && break; sleep 0.2; done
check "5000 idle connections are open" grep -q 'open 5000' "$T/idle.out"
eq "a real client is served while 5000 connections idle" 200 "$(FROM 127.0.0.5 "$T/tok.sup" -m 10 "https://127.0.0.1:$PORT/v1/whoami")"
wait $idlepid
m=$(curl -s --cacert "$CERT" --interface 127.0.0.3 -H "Authorization: Bearer $(cat "$T/tok.met")" "https://127.0.0.1:$PORT/metrics")
check "idle connections were closed by the head deadline" bash -c "echo '$m' | grep -q '^coffer_connections_killed_total [1-9]'"

# ---- durability: acknowledged batches survive kill -9 and SIGTERM
mkbatch() { # tag -> 50 JSON lines for recipient tag@dur.example
  for i in $(seq 1 50); do
    printf '{"time":"2026-11-21T10:%02d:%02dZ","queue_id":"D%s%04d","recipient":"%s@dur.example","status":"sent"}\n' \
      $((i / 60)) $((i % 60)) "$1" "$i" "$1"
  done
}
mkbatch killnine >"$T/b1.jsonl"
eq "batch accepted" 202 "$(ING -H 'Content-Type: application/x-ndjson' --data-binary @"$T/b1.jsonl" "https://127.0.0.1:$PORT/v1/events")"
serve_stop KILL
check "server restarts after kill -9" serve_start
mkbatch sigterm >"$T/b2.jsonl"
eq "batch accepted" 202 "$(ING -H 'Content-Type: application/x-ndjson' --data-binary @"$T/b2.jsonl" "https://127.0.0.1:$PORT/v1/events")"
serve_stop TERM
eq "SIGTERM exits 0" 0 $?
eq "after kill -9: every acknowledged event is stored" 50 "$(cof search --rcpt killnine@dur.example --json | wc -l)"
eq "after SIGTERM: every acknowledged event is stored" 50 "$(cof search --rcpt sigterm@dur.example --json | wc -l)"
check "restart again (spool replay is idempotent)" serve_start
serve_stop TERM
eq "no event stored twice by the replay" 50 "$(cof search --rcpt killnine@dur.example --json | wc -l)"
check "audit trail verifies after the crash" cof audit verify

finish
