#!/usr/bin/env python3
"""Loopback responders for `coffer probe` tests, built from the products' documented
wire formats, for stores without a Debian 12 package (Elasticsearch, OpenSearch,
Kibana, Solr, ClickHouse, CouchDB, MongoDB) and for coffer's own API (coffer serve is
not built yet). Each runs on 127.0.0.1 only.

usage: probe_responder.py MODE PORT [CERT KEY]
MODE: es, es-locked, opensearch, kibana, kibana-locked, solr, solr-locked, clickhouse,
      clickhouse-locked, couchdb, couchdb-locked, mongo, mongo-locked, coffer-tls,
      coffer-plain, coffer-leaky, silent, webhook (needs CERT KEY; env SECRET_FILE, OUT_FILE)
"""
import hashlib
import hmac
import json
import os
import socketserver
import ssl
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE, PORT = sys.argv[1], int(sys.argv[2])
BIND = os.environ.get("BIND", "127.0.0.1")  # always a loopback address in the tests
CERT = sys.argv[3] if len(sys.argv) > 3 else None
KEY = sys.argv[4] if len(sys.argv) > 4 else None
COFFER_ROUTES = {"/v1/trail", "/v1/stats", "/v1/audit", "/v1/whoami", "/metrics",
                 "/v1/events", "/v1/changes", "/v1/exports"}


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="application/json", extra=()):
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def version_string(self):
        return "coffer" if MODE.startswith("coffer") else "responder"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(min(n, 1 << 20))
        if MODE == "webhook":
            with open(os.environ["SECRET_FILE"], "rb") as f:
                secret = f.read()
            if secret.endswith(b"\n"):
                secret = secret[:-1]
            want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            got = self.headers.get("X-Coffer-Signature", "")
            ok = hmac.compare_digest(want, got)
            try:
                doc = json.loads(body)
                line = "%s %s %s %s\n" % ("ok" if ok else "badsig", doc.get("kind"),
                                          doc.get("severity"), self.headers.get("X-Coffer-Alert-Id") == doc.get("id"))
            except ValueError:
                line = "badjson\n"
            with open(os.environ["OUT_FILE"], "a") as f:
                f.write(line)
            return self.reply(200, {"received": True})
        return self.do_GET()

    def do_GET(self):
        p = self.path
        m = MODE
        if m.startswith("coffer"):
            path = p.split("?")[0]
            if path == "/healthz":
                if m == "coffer-leaky":
                    return self.reply(200, {"status": "ok", "version": "0.1.0",
                                            "data_dir": "/var/lib/coffer"})
                return self.reply(200, {"status": "ok"})
            if path in COFFER_ROUTES:
                return self.reply(401, {"error": {"code": "unauthorized", "message": "missing or invalid token"}},
                                  extra=[("WWW-Authenticate", 'Bearer realm="coffer"')])
            return self.reply(404, {"error": {"code": "not_found", "message": "no such route"}})
        if m in ("es", "opensearch"):
            if p == "/":
                v = {"number": "8.11.1", "build_flavor": "default"} if m == "es" else \
                    {"distribution": "opensearch", "number": "2.11.0"}
                return self.reply(200, {"name": "node-1", "cluster_name": "maillogs",
                                        "cluster_uuid": "x1", "version": v,
                                        "tagline": "You Know, for Search" if m == "es" else
                                        "The OpenSearch Project: https://opensearch.org/"})
            if p.startswith("/_cat/indices"):
                return self.reply(200, [{"index": "postfix-2026.11", "docs.count": "123456"},
                                        {"index": "postfix-2026.10", "docs.count": "1000"}])
            return self.reply(404, {"error": "not found"})
        if m == "es-locked":
            return self.reply(401, {"error": {"type": "security_exception",
                                              "reason": "missing authentication credentials"}, "status": 401},
                              extra=[("WWW-Authenticate", 'Basic realm="security" charset="UTF-8"')])
        if m.startswith("kibana"):
            kbn = [("kbn-name", "kibana"), ("kbn-license-sig", "x")]
            if p == "/":
                self.send_response(302)
                self.send_header("Location", "/app/home")
                self.send_header("Content-Length", "0")
                for k, v in kbn:
                    self.send_header(k, v)
                self.end_headers()
                self.close_connection = True
                return
            if p == "/api/status":
                if m == "kibana":
                    return self.reply(200, {"name": "kibana", "version": {"number": "8.11.1"},
                                            "status": {"overall": {"level": "available"}}}, extra=kbn)
                return self.reply(401, {"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"},
                                  extra=kbn)
            return self.reply(404, {"statusCode": 404}, extra=kbn)
        if m.startswith("solr"):
            if p.startswith("/solr/admin/cores"):
                if m == "solr":
                    return self.reply(200, {"responseHeader": {"status": 0, "QTime": 1}, "initFailures": {},
                                            "status": {"maillogs": {"name": "maillogs", "index": {"numDocs": 4242}}}})
                return self.reply(401, b"<html><body><h2>HTTP ERROR 401 require authentication</h2>"
                                  b"<p>URI: /solr/admin/cores</p></body></html>", "text/html")
            if p == "/":
                self.send_response(302)
                self.send_header("Location", "/solr/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.close_connection = True
                return
            return self.reply(404, b"not found", "text/plain")
        if m.startswith("clickhouse"):
            ch = [("X-ClickHouse-Server-Display-Name", "ch1")]
            if p == "/" or p == "/ping":
                return self.reply(200, b"Ok.\n", "text/html; charset=UTF-8", ch)
            if p.startswith("/?query="):
                if m == "clickhouse-locked":
                    return self.reply(516, b"Code: 516. DB::Exception: default: Authentication failed.\n",
                                      "text/plain", ch + [("X-ClickHouse-Exception-Code", "516")])
                if "version" in p:
                    return self.reply(200, b"23.8.2.7\n", "text/tab-separated-values", ch)
                return self.reply(200, b"5\n", "text/tab-separated-values", ch)
            return self.reply(404, b"", "text/plain", ch)
        if m.startswith("couchdb"):
            if p == "/":
                return self.reply(200, {"couchdb": "Welcome", "version": "3.3.3", "vendor": {"name": "The Apache Software Foundation"}})
            if p == "/_all_dbs":
                if m == "couchdb":
                    return self.reply(200, ["_replicator", "_users", "maillog"])
                return self.reply(401, {"error": "unauthorized", "reason": "You are not a server admin."})
            return self.reply(404, {"error": "not_found", "reason": "missing"})
        return self.reply(404, {"error": "not_found"})


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(CERT, KEY)
        try:
            request = ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):
        pass


class PlainServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


# ---- MongoDB: OP_MSG (opcode 2013) with BSON documents ----

def bson(doc):
    out = b""
    for k, v in doc.items():
        kb = k.encode() + b"\0"
        if isinstance(v, bool):
            out += b"\x08" + kb + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += b"\x10" + kb + struct.pack("<i", v)
        elif isinstance(v, float):
            out += b"\x01" + kb + struct.pack("<d", v)
        elif isinstance(v, str):
            s = v.encode() + b"\0"
            out += b"\x02" + kb + struct.pack("<i", len(s)) + s
        elif isinstance(v, dict):
            out += b"\x03" + kb + bson(v)
        elif isinstance(v, list):
            out += b"\x04" + kb + bson({str(i): x for i, x in enumerate(v)})
    return struct.pack("<i", len(out) + 5) + out + b"\0"


def first_key(doc):
    i = 5
    end = doc.index(b"\0", i)
    return doc[i:end].decode()


class Mongo(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(5)
        while True:
            hdr = b""
            while len(hdr) < 16:
                c = s.recv(16 - len(hdr))
                if not c:
                    return
                hdr += c
            length, reqid, _, op = struct.unpack("<iiii", hdr)
            if length < 16 or length > 1 << 20 or op != 2013:
                return
            body = b""
            while len(body) < length - 16:
                c = s.recv(length - 16 - len(body))
                if not c:
                    return
                body += c
            cmd = first_key(body[5:])
            if cmd in ("hello", "isMaster", "ismaster"):
                rep = {"isWritablePrimary": True, "maxWireVersion": 17, "ok": 1.0}
            elif cmd == "buildInfo":
                rep = {"version": "6.0.12", "ok": 1.0}
            elif cmd == "listDatabases" and MODE == "mongo":
                rep = {"databases": [{"name": "maillog"}, {"name": "admin"}, {"name": "local"}], "ok": 1.0}
            else:
                rep = {"ok": 0.0, "errmsg": "command %s requires authentication" % cmd,
                       "code": 13, "codeName": "Unauthorized"}
            doc = bson(rep)
            msg = struct.pack("<i", 0) + b"\0" + doc
            s.sendall(struct.pack("<iiii", 16 + len(msg), reqid + 1000, reqid, 2013) + msg)


class MongoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


class Silent(socketserver.BaseRequestHandler):
    """A TCP service that never speaks first and answers nothing (a raw syslog port)."""
    def handle(self):
        self.request.settimeout(10)
        try:
            while self.request.recv(4096):
                pass
        except OSError:
            pass


if MODE.startswith("mongo"):
    srv = MongoServer((BIND, PORT), Mongo)
elif MODE == "silent":
    srv = MongoServer((BIND, PORT), Silent)
elif CERT:
    srv = TLSServer((BIND, PORT), H)
else:
    srv = PlainServer((BIND, PORT), H)
print("ready", flush=True)
srv.serve_forever()
