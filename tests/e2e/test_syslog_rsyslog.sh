#!/usr/bin/env bash
# Syslog over TLS with a real rsyslog (Debian package): rsyslogd, started by this test,
# reads a Postfix log with imfile and forwards it over TLS (RFC 5425 octet counting)
# with a client certificate into `coffer serve`; every delivery event arrives once.
# Also: unknown certificates and certificate-less clients are refused and audited.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
if [ ! -x "$RSYSLOGD" ] || [ ! -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ]; then
  bad "rsyslog and rsyslog-gnutls are required (scripts/deps.sh test installs them)"
  finish
fi

# A CA for syslog clients, and two client certificates: one mapped, one not.
(
cd "$T" || exit 1
cat >ca.tmpl <<'EOF'
cn = "coffer test syslog CA"
ca
cert_signing_key
expiration_days = 2
EOF
cat >client.tmpl <<'EOF'
cn = "mta1.example"
tls_www_client
signing_key
expiration_days = 2
EOF
certtool --generate-privkey --key-type ecdsa --outfile ca.key 2>/dev/null
certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.crt 2>/dev/null
for c in client other; do
  certtool --generate-privkey --key-type ecdsa --outfile $c.key 2>/dev/null
  certtool --generate-certificate --load-privkey $c.key --load-ca-certificate ca.crt \
    --load-ca-privkey ca.key --template client.tmpl --outfile $c.crt 2>/dev/null
done
)
check "test certificates made" test -s "$T/client.crt" -a -s "$T/other.crt"
fp() { python3 -c "import ssl,hashlib,sys; print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())).hexdigest())" "$1"; }

"$GEN" --events 4000 --seed 31 --truth "$T/truth.tsv" --out "$T/mail.log" 2>/dev/null
ntruth=$(($(wc -l <"$T/truth.tsv") - 1))
nlines=$(wc -l <"$T/mail.log")
CONF=$T/coffer.conf
printf 'data_dir = %s\nkey_file = %s\nsyslog_client_ca = %s\n' "$DATA" "$KEY" "$T/ca.crt" >"$CONF"
cof() { "$COFFER" --config "$CONF" "$@"; }
cof init >/dev/null
mktoken mta1 ingest '*'
mktoken met metrics '*'
python3 - "$DATA/access.json" "$(fp "$T/client.crt")" <<'PY'
import json, os, sys
p, fp = sys.argv[1], sys.argv[2]
d = json.load(open(p))
d["principals"]["mta1"]["cert_sha256"] = fp
d["version"] += 1
tmp = p + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(d, indent=2).encode())
os.close(fd)
os.rename(tmp, p)
PY
PORT=$(free_port)
SPORT=$(free_port)
check "server starts with the syslog TLS listener" serve_start --syslog-listen "127.0.0.1:$SPORT"

# rsyslog: imfile reads the log; omfwd sends each line as-is (rawmsg), octet-counted,
# over TLS with the client certificate, trusting coffer's loopback certificate.
mkdir -p "$T/rs"
cat >"$T/rsyslog.conf" <<EOF
global(workDirectory="$T/rs"
       DefaultNetstreamDriverCAFile="$CERT"
       DefaultNetstreamDriverCertFile="$T/client.crt"
       DefaultNetstreamDriverKeyFile="$T/client.key")
module(load="imfile")
template(name="raw" type="string" string="%rawmsg%")
input(type="imfile" File="$T/mail.log" Tag="postfix" freshStartTail="off" ruleset="fwd")
ruleset(name="fwd") {
  action(type="omfwd" target="127.0.0.1" port="$SPORT" protocol="tcp" template="raw"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
         StreamDriverPermittedPeers="localhost" TCP_Framing="octet-counted"
         queue.type="LinkedList" queue.size="100000" action.resumeRetryCount="-1")
}
EOF
"$RSYSLOGD" -n -f "$T/rsyslog.conf" -i "$T/rs/pid" >"$T/rs.log" 2>&1 &
rspid=$!
metric() { curl -s --cacert "$CERT" -H "Authorization: Bearer $(cat "$T/tok.met")" "https://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1==k {print $2}'; }
got=0
for _ in $(seq 1 300); do
  got=$(metric coffer_ingest_lines_total)
  [ "${got:-0}" -ge "$nlines" ] && break
  sleep 0.2
done
eq "rsyslog delivered every line over TLS" "$nlines" "${got:-0}"
kill "$rspid" 2>/dev/null
wait "$rspid" 2>/dev/null

# Refusals: no client certificate; a certificate from the CA that no principal maps.
send() { # certname-or-empty -> exit of gnutls-cli sending one line
  local args=(--x509cafile "$CERT" -p "$SPORT" 127.0.0.1)
  [ -n "$1" ] && args+=(--x509certfile "$T/$1.crt" --x509keyfile "$T/$1.key")
  printf '50 Nov 23 10:00:00 h postfix/smtp[1]: refused-test\n' | timeout 10 gnutls-cli "${args[@]}" >/dev/null 2>&1
}
send ""
send other
check "server still up" kill -0 "$SRVPID"
check "SIGTERM drains and stops" serve_stop TERM
stored=$(cof stats --json | python3 -c 'import json,sys; print(sum(g["count"] for g in json.load(sys.stdin)["groups"]))')
eq "every delivery event of the forwarded log is stored once" "$ntruth" "$stored"
rcpt=$(awk -F'\t' 'NR>1 && $10!="" {print $10}' "$T/truth.tsv" | sort | uniq -c | sort -rn | head -1 | awk '{print $2}')
eq "trail of a forwarded recipient" "$(truth_count "$T/truth.tsv" "\$10==\"$rcpt\"")" "$(cof search --rcpt "$rcpt" --json | wc -l)"
cof audit show --json >"$T/audit.jsonl" 2>/dev/null
check "the mapped client's connection is audited" grep -q '"principal":"mta1","source":"[^"]*","action":"syslog.connect"' "$T/audit.jsonl"
check "refused syslog clients are audited" grep -q '"action":"syslog.connect".*"outcome":"denied"' "$T/audit.jsonl"
check "no refused line was stored" bash -c "! '$COFFER' --config '$CONF' search --queue-id refused-test 2>/dev/null | grep -q refused"

# Plain syslog: loopback only, and then it works without certificates.
PORT=$(free_port)
PPORT=$(free_port)
check "plain syslog on loopback starts" serve_start --syslog-plain-listen "127.0.0.1:$PPORT"
head -50 "$T/mail.log" | python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $PPORT))
for l in sys.stdin.buffer:
    s.sendall(str(len(l.rstrip(b'\n'))).encode() + b' ' + l.rstrip(b'\n'))
s.close()"
sleep 1
check "plain loopback lines are accepted" bash -c "test \$(curl -s --cacert '$CERT' -H 'Authorization: Bearer $(cat "$T/tok.met")' https://127.0.0.1:$PORT/metrics | awk '\$1==\"coffer_ingest_lines_total\" {print \$2}') -ge 50"
serve_stop TERM

finish
