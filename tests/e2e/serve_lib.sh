# Helpers for the server tests: a free loopback port, start/stop a real `coffer serve`,
# and curl with the store's loopback CA. Source after lib.sh.
CERT=$T/keys/tls/server.crt
SRVLOG=$T/serve.log

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# serve_start [extra serve args...]: starts the server on $PORT (set beforehand), waits
# for /healthz; SRVPID holds the coffer process itself (signals go to it, not a shell).
serve_start() {
  "$COFFER" --data-dir "$DATA" --key-file "$KEY" ${CONF:+--config "$CONF"} serve \
    --listen "127.0.0.1:$PORT" "$@" >>"$SRVLOG" 2>&1 &
  SRVPID=$!
  for _ in $(seq 1 100); do
    if curl -s --cacert "$CERT" "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$SRVPID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

serve_stop() { # signal (default TERM); waits; returns the server's exit status
  kill -"${1:-TERM}" "$SRVPID" 2>/dev/null
  wait "$SRVPID"
}

# api TOKENFILE METHOD PATH [curl args...]: prints "STATUS BODY" ($SRC: source address)
api() {
  local tf=$1 m=$2 p=$3
  shift 3
  local auth=()
  [ -n "$tf" ] && auth=(-H "Authorization: Bearer $(cat "$tf")")
  [ -n "${SRC:-}" ] && auth+=(--interface "$SRC")
  curl -s --cacert "$CERT" -X "$m" "${auth[@]}" -w '\n%{http_code}' "$@" "https://127.0.0.1:$PORT$p" |
    awk '{l[NR]=$0} END {printf "%s ", l[NR]; for (i=1;i<NR;i++) printf "%s", l[i]; print ""}'
}
status_of() { echo "${1%% *}"; }
body_of() { echo "${1#* }"; }

