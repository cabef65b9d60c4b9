#!/usr/bin/env bash
# test_generator.sh - bench/gen_postfix is deterministic, its truth file agrees
# with its own summary and with the log it wrote, and the status mix is the one
# the benchmarks assume.
#
# Uses $COF_BUILD/gen_postfix (COF_BUILD = the cmake build directory, else ./build).
# Last line: "N passed, M failed"; exit status non-zero on any failure.
set -u

BUILD=${COF_BUILD:-./build}
GEN=$BUILD/gen_postfix
N=20000
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { # check NAME COMMAND...
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}

if [ ! -x "$GEN" ]; then
    echo "FAIL - $GEN not built"
    echo "0 passed, 1 failed"
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$GEN" --events $N --seed 7 --out "$tmp/a.log" --truth "$tmp/a.tsv" 2>"$tmp/a.err"
check "runs (seed 7)" test $? -eq 0
"$GEN" --events $N --seed 7 --out "$tmp/b.log" --truth "$tmp/b.tsv" 2>/dev/null
check "runs again (seed 7)" test $? -eq 0
"$GEN" --events $N --seed 8 --out "$tmp/c.log" 2>/dev/null
check "runs (seed 8)" test $? -eq 0
"$GEN" --events $N --seed 7 --format rfc3339 --hosts 3 --tenants 20 \
    --out "$tmp/r.log" --truth "$tmp/r.tsv" 2>"$tmp/r.err"
check "runs (rfc3339, 3 hosts, 20 tenants)" test $? -eq 0

check "same seed, same log" cmp -s "$tmp/a.log" "$tmp/b.log"
check "same seed, same truth" cmp -s "$tmp/a.tsv" "$tmp/b.tsv"
check "different seed, different log" bash -c "! cmp -s '$tmp/a.log' '$tmp/c.log'"
check "stdout output equals --out" bash -c \
    "'$GEN' --events $N --seed 7 2>/dev/null | cmp -s - '$tmp/a.log'"
check "rejects bad arguments" bash -c \
    "! '$GEN' --events 0 >/dev/null 2>&1 && ! '$GEN' --events 10 --format x >/dev/null 2>&1 \
     && ! '$GEN' --events 10 --start 2026-13-01T00:00:00Z >/dev/null 2>&1"

# Truth: header, exactly N rows, 22 columns, counts equal to the summary, mix.
for f in a r; do
    python3 - "$tmp/$f.tsv" "$tmp/$f.err" $N <<'EOF'
import re, sys
tsv, err, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = open(tsv).read().split("\n")
assert rows[-1] == ""
head, rows = rows[0].split("\t"), rows[1:-1]
assert head == ("time_iso host instance queue_id message_id client_host client_ip "
                "sasl_username sender recipient orig_recipient relay_host relay_ip "
                "relay_port status dsn delay_ms size nrcpt response subject tls").split(), head
assert len(rows) == n, (len(rows), n)
st = {}
for r in rows:
    c = r.split("\t")
    assert len(c) == 22, c
    st[c[14]] = st.get(c[14], 0) + 1
summary = dict(re.findall(r" (\w+)=(\d+) \(", open(err).read()))
for k, v in summary.items():
    assert st.get(k, 0) == int(v), (k, st.get(k), v)
share = {k: 100.0 * v / n for k, v in st.items()}
want = {"sent": (85, 93), "deferred": (4, 8), "bounced": (2.5, 5.5),
        "rejected": (0.3, 2.5), "expired": (0.02, 1)}
for k, (lo, hi) in want.items():
    assert lo <= share.get(k, 0) <= hi, (k, share.get(k, 0), lo, hi)
EOF
    check "truth $f: header, $N rows, counts match summary, status mix" test $? -eq 0
done

# Every truth row is what the log says: a small independent reader of the log
# rebuilds the rows and the two multisets must be equal.
for f in a r; do
    python3 - "$tmp/$f.log" "$tmp/$f.tsv" <<'EOF'
import re, sys
from collections import Counter
from decimal import Decimal
log, tsv = sys.argv[1], sys.argv[2]
MON = {m: i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
YEAR = "2026"
DELIV = re.compile(r"(\S+): to=<([^>]*)>(?:, orig_to=<([^>]*)>)?, relay=([^,\[]+)"
                   r"(?:\[([^\]]*)\](?::(\d+))?)?, delay=([\d.]+), delays=[\d./]+, "
                   r"dsn=([\d.]+), status=(\w+) \((.*)\)$")
TLS = re.compile(r"(TLSv[\d.]+) with cipher (\S+)")
msgs, smtpd, smtp_tls, pending, out = {}, {}, {}, {}, []

def ts(s):
    if s[4] == "-":
        return s.replace("+00:00", "Z")
    mon, day, hms = s.split()
    return "%s-%02d-%02dT%s.000000Z" % (YEAR, MON[mon], int(day), hms)

def tls_of(text):
    m = TLS.search(text)
    return m.group(1) + " " + m.group(2)

for line in open(log):
    line = line.rstrip("\n")
    if line[4] == "-":
        t, host, tag, msg = line.split(" ", 3)
    else:
        t, host, tag, msg = line[:15], *line[16:].split(" ", 2)
    inst, rest = tag.split("/", 1)
    svc, pid = rest[:-2].split("[")
    key = (host, inst)
    if svc.endswith("smtpd"):
        sk = key + (pid,)
        if msg.startswith("connect from"):
            smtpd[sk] = ""
        elif msg.startswith("Anonymous TLS"):
            smtpd[sk] = tls_of(msg)
        elif msg.startswith("disconnect"):
            del smtpd[sk]
        elif msg.startswith("NOQUEUE: reject: RCPT from "):
            m = re.match(r"NOQUEUE: reject: RCPT from ([^\[]+)\[([^\]]+)\]: (.*); "
                         r"from=<([^>]*)> to=<([^>]*)> proto=ESMTP helo=<[^>]*>$", msg)
            resp = m.group(3)
            out.append((ts(t), host, inst, "", "", m.group(1), m.group(2), "", m.group(4),
                        m.group(5), "", "", "", "", "rejected", resp.split()[1], "", "", "",
                        resp, "", smtpd[sk]))
        else:
            m = re.match(r"(\S+): client=([^\[]+)\[([^\]]+)\](?:, sasl_method=PLAIN, "
                         r"sasl_username=(\S+))?$", msg)
            msgs[key + (m.group(1),)] = dict(client=m.group(2), ip=m.group(3),
                                            sasl=m.group(4) or "", tls=smtpd[sk], subject="")
        continue
    if svc == "smtp" and " TLS connection established to " in msg:
        smtp_tls[key + (pid,)] = tls_of(msg)
        continue
    qid, body = msg.split(": ", 1)
    mk = key + (qid,)
    if svc == "cleanup":
        st = msgs.setdefault(mk, dict(client="", ip="", sasl="", tls="", subject=""))
        if body.startswith("message-id="):
            st["msgid"] = body[len("message-id="):]
        else:
            st["subject"] = re.match(r"warning: header Subject: (.*) from [^\[]+\[[^\]]+\]; ",
                                     body).group(1)
    elif svc == "qmgr":
        st = msgs[mk]
        m = re.match(r"from=<([^>]*)>, size=(\d+), nrcpt=(\d+) \(queue active\)$", body)
        if m:
            st.update(sender=m.group(1), size=m.group(2), nrcpt=m.group(3))
        elif body == "removed":
            del msgs[mk]
        else:
            m = re.match(r"from=<([^>]*)>, status=expired, returned to sender$", body)
            for r, o in pending.pop(mk).items():
                out.append((ts(t), host, inst, qid, st["msgid"], st["client"], st["ip"],
                            st["sasl"], m.group(1), r, o, "", "", "", "expired", "", "",
                            st["size"], st["nrcpt"], "", st["subject"], ""))
    elif svc == "bounce":
        pass
    else:
        st = msgs[mk]
        m = DELIV.match(msg)
        assert m, line
        _, r, o, rh, ri, rp, dl, dsn, status, resp = m.groups()
        tls = smtp_tls.pop(key + (pid,), "") if svc == "smtp" else st["tls"]
        if status == "deferred":
            pending.setdefault(mk, {})[r] = o or ""
        else:
            pending.get(mk, {}).pop(r, None)
        out.append((ts(t), host, inst, qid, st["msgid"], st["client"], st["ip"], st["sasl"],
                    st["sender"], r, o or "", rh, ri or "", rp or "", status, dsn,
                    str(int(Decimal(dl) * 1000)), st["size"], st["nrcpt"], resp,
                    st["subject"], tls))

truth = [tuple(l.rstrip("\n").split("\t")) for l in list(open(tsv))[1:]]
a, b = Counter(out), Counter(truth)
if a != b:
    for x in list((b - a).elements())[:3]:
        print("truth only:", x)
    for x in list((a - b).elements())[:3]:
        print("log only:  ", x)
    sys.exit(1)
assert not msgs and not smtpd, (len(msgs), len(smtpd))
EOF
    check "log $f: rebuilt rows equal truth rows; every message removed, every session closed" \
        test $? -eq 0
done

# The line kinds the parser must meet are all there.
for pat in 'postfix/submission/smtpd\[[0-9]+\]: [0-9A-Za-z]+: client=.*sasl_method=PLAIN, sasl_username=' \
    'Anonymous TLS connection established from ' 'Verified TLS connection established to ' \
    'cleanup\[[0-9]+\]: [0-9A-Za-z]+: warning: header Subject: ' \
    'NOQUEUE: reject: RCPT from .*Relay access denied; from=<' \
    'postfix/local\[' 'postfix/virtual\[' 'postfix/lmtp\[' 'postfix-out/smtp\[' \
    'status=deferred \(connect to ' 'status=deferred \(host .* said: 451 ' \
    'dsn=5\.1\.1, status=bounced ' 'status=expired, returned to sender' \
    'postfix/bounce\[[0-9]+\]: [0-9A-F]+: sender non-delivery notification: [0-9A-F]+$' \
    ', orig_to=<' ' mx2 postfix/qmgr\[[0-9]+\]: [0-9A-Za-y]{10,}z[0-9A-Za-y]+: removed' \
    ' mx1 postfix/qmgr\[[0-9]+\]: [0-9A-F]{10,12}: removed'; do
    check "log has: $pat" grep -Eq -- "$pat" "$tmp/a.log"
done
check "rfc3339 timestamps" grep -Eq '^2026-11-01T00:00:0[0-9]\.[0-9]{6}\+00:00 mx3 ' "$tmp/r.log"
check "classic timestamps" grep -Eq '^Nov  1 00:00:0[0-9] mx1 ' "$tmp/a.log"
check "only documentation IPv4 ranges" bash -c \
    "! grep -Eo '(^|[^0-9.])[0-9]{1,3}(\.[0-9]{1,3}){3}([^0-9.]|$)' '$tmp/a.log' \
       | grep -Eo '[0-9.]+' | grep -Ev '^(192\.0\.2|198\.51\.100|203\.0\.113)\.' | grep -q ."
check "only documentation IPv6 range" bash -c \
    "grep -Eo '\[[0-9a-f]*:[0-9a-f:]+\]' '$tmp/a.log' | grep -q . \
     && ! grep -Eo '\[[0-9a-f]*:[0-9a-f:]+\]' '$tmp/a.log' | grep -v '^\[2001:db8:' | grep -q ."

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
