#!/usr/bin/env python3
"""Threat model A2: no personal value from the log may be found in any file under the
data directory, in plain text, hex or base64 (at any of the three base64 alignments).

usage: no_plaintext.py TRUTH.tsv DATA_DIR
Exit 0 if nothing is found; otherwise print the field and file of each hit (never the
value itself) and exit 1. Values that legitimately appear in clear-kept fields of the
same log (a client host that is also a relay host, say) are not personal under the
policy and are left out; so are values shorter than 6 bytes (chance matches)."""
import base64, binascii, os, sys

PERSONAL = ["message_id", "client_host", "client_ip", "sasl_username", "sender",
            "recipient", "orig_recipient", "response", "subject"]
CLEAR = ["host", "instance", "queue_id", "relay_host", "relay_ip", "dsn", "tls"]

def forms(v):
    b = v.encode()
    out = {b, b.lower(), binascii.hexlify(b), binascii.hexlify(b).upper()}
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + b)
        # drop the characters that depend on the padding or the following bytes
        start = {0: 0, 1: 2, 2: 3}[pad]
        core = enc[start:len(enc) - 4]
        if len(core) >= 8:
            out.add(core)
    return out

def main():
    truth, data = sys.argv[1], sys.argv[2]
    rows = [l.rstrip("\n").split("\t") for l in open(truth, encoding="utf-8")]
    hdr, rows = rows[0], rows[1:]
    idx = {h: i for i, h in enumerate(hdr)}
    clear = set()
    for r in rows:
        for c in CLEAR:
            if c in idx and r[idx[c]]:
                clear.add(r[idx[c]])
    clear_blob = "\n".join(clear)
    values = {}
    for r in rows:
        for c in PERSONAL:
            if c in idx:
                v = r[idx[c]].strip().strip("<>")
                if len(v) >= 6 and v not in clear and v not in clear_blob:
                    values.setdefault(v, c)
    blobs = []
    for dp, _, fns in os.walk(data):
        for fn in fns:
            p = os.path.join(dp, fn)
            with open(p, "rb") as f:
                blobs.append((p, f.read()))
    hits = 0
    for v, field in values.items():
        for form in forms(v):
            for p, blob in blobs:
                if form in blob:
                    hits += 1
                    print(f"LEAK: a {field} value appears in {p}")
                    break
    print(f"checked {len(values)} distinct personal values in {len(blobs)} files")
    if len(values) < 1000:
        print("too few distinct values to be a meaningful check")
        return 1
    return 1 if hits else 0

sys.exit(main())
