#!/usr/bin/env bash
# coffer probe against responders built from documented wire formats, for products
# without a Debian 12 package (Elasticsearch, OpenSearch, Kibana, Solr, ClickHouse,
# MongoDB; CouchDB is not packaged in Debian 12 either) and for coffer's own API
# (coffer serve does not exist yet: a responder imitates its 401 JSON answers).
# Each once open and once locked down; loopback only.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/probe_lib.sh"
echo "# Elasticsearch, OpenSearch, Kibana, Solr, ClickHouse, MongoDB, CouchDB: wire-format responders (no Debian package; CouchDB not in Debian 12)"

for pair in "es es.no-auth" "opensearch es.no-auth" "kibana kibana.no-auth" "solr solr.no-auth" \
            "clickhouse clickhouse.no-auth" "couchdb couchdb.no-auth" "mongo mongodb.no-auth"; do
  set -- $pair
  p=$(freeport); responder "$1" "$p"
  expect_open "$1 (responder)" "$p" "$2" critical
  q=$(freeport); responder "$1-locked" "$q"
  expect_locked "$1 (responder)" "$q"
done
# Evidence carries names and counts, never record contents.
p=$(freeport); responder es "$p"
probe_json "$p" >"$T/es.json"
check "es evidence names indices and documents" grep -q '2 indices, 124456 documents' "$T/es.json"
p=$(freeport); responder opensearch "$p"
probe_json "$p" >"$T/os.json"
check "opensearch identified as opensearch" grep -q '"service":"opensearch"' "$T/os.json"
p=$(freeport); responder mongo "$p"
probe_json "$p" >"$T/mg.json"
check "mongo evidence: version and database count" grep -q 'version 6.0.12, 3 databases' "$T/mg.json"

# ---- coffer endpoints ----
mkdir -p "$T/pki"
cat >"$T/pki/ca.tmpl" <<T2
cn = "probe test CA"
ca
cert_signing_key
expiration_days = 2
T2
cat >"$T/pki/srv.tmpl" <<T2
cn = "localhost"
ip_address = "127.0.0.1"
dns_name = "localhost"
tls_www_server
expiration_days = 2
T2
certtool --generate-privkey --key-type ecdsa --outfile "$T/pki/ca.key" 2>/dev/null
certtool --generate-self-signed --load-privkey "$T/pki/ca.key" --template "$T/pki/ca.tmpl" --outfile "$T/pki/ca.pem" 2>/dev/null
certtool --generate-privkey --key-type ecdsa --outfile "$T/pki/srv.key" 2>/dev/null
certtool --generate-certificate --load-privkey "$T/pki/srv.key" --load-ca-certificate "$T/pki/ca.pem" \
  --load-ca-privkey "$T/pki/ca.key" --template "$T/pki/srv.tmpl" --outfile "$T/pki/srv.pem" 2>/dev/null
check "test PKI created" test -s "$T/pki/srv.pem"

p=$(freeport); responder coffer-tls "$p" "$T/pki/srv.pem" "$T/pki/srv.key"
probe_json "$p" --ca "$T/pki/ca.pem" >"$T/c1.json"
eq "coffer over TLS with a valid certificate: coffer.ok" "info" "$(sev_of "$T/c1.json" coffer.ok)"
check "coffer.ok says every route answers 401" grep -q '8 of 8 routes answer 401' "$T/c1.json"
eq "coffer, valid TLS: nothing at/above low" "info" "$(max_sev "$T/c1.json")"
probe_json "$p" >"$T/c2.json"
eq "coffer over TLS, certificate not trusted (no --ca): high" "high" "$(sev_of "$T/c2.json" coffer.tls-unverified)"
# Pin the certificate instead of trusting a CA.
pin=$(python3 -c "import ssl,hashlib,sys;print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())).hexdigest())" "$T/pki/srv.pem")
printf 'probe.pin_sha256 = %s\n' "$pin" >"$T/pin.conf"
"$COFFER" --config "$T/pin.conf" probe --json "127.0.0.1:$p" >"$T/c3.json" 2>"$T/probe.err"
eq "coffer over TLS matching probe.pin_sha256: coffer.ok" "info" "$(sev_of "$T/c3.json" coffer.ok)"
check "the unverified finding names the fingerprint to pin" grep -q "$pin" "$T/c2.json"

q=$(freeport); responder coffer-plain "$q"
probe_json "$q" >"$T/c4.json"
eq "coffer API over plaintext HTTP: critical" "critical" "$(sev_of "$T/c4.json" coffer.plaintext)"
"$COFFER" probe --timeout 1500 "127.0.0.1:$q" >"$T/c4.txt" 2>&1; rc=$?
eq "plaintext coffer: exit 3 (default --fail-on high)" 3 "$rc"
check "text output shows target, service, severity and a fix" \
  grep -q "critical  127.0.0.1:$q" "$T/c4.txt"
check "text output has a fix line" grep -q "fix: serve the API only over TLS" "$T/c4.txt"

r=$(freeport); responder coffer-leaky "$r" "$T/pki/srv.pem" "$T/pki/srv.key"
probe_json "$r" --ca "$T/pki/ca.pem" >"$T/c5.json"
eq "coffer /healthz revealing version and paths: medium" "medium" "$(sev_of "$T/c5.json" coffer.healthz-reveals)"
check "healthz finding names the extra keys" grep -q 'version,data_dir' "$T/c5.json"

# coffer's ports carry TLS only: a silent plaintext listener on 8443 (on a private
# loopback address, so the well-known port is free) is high; a TLS coffer there is fine.
A=127.77.$((RANDOM % 200 + 2)).$((RANDOM % 200 + 2))
BIND=$A responder silent 8443
"$COFFER" probe --json --timeout 800 "$A:8443" >"$T/p1.json" 2>"$T/probe.err"
eq "plaintext listener on coffer port 8443: high" "high" "$(sev_of "$T/p1.json" coffer-port.no-tls)"
BIND=$A responder coffer-tls 6514 "$T/pki/srv.pem" "$T/pki/srv.key" 2>/dev/null
"$COFFER" probe --json --timeout 800 "$A:6514" >"$T/p2.json" 2>"$T/probe.err"
eq "TLS coffer on 6514: no coffer-port finding" "" "$(sev_of "$T/p2.json" coffer-port.no-tls)"
check "TLS coffer on 6514 is identified as coffer" grep -q '"service":"coffer"' "$T/p2.json"

finish
