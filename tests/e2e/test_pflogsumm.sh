#!/usr/bin/env bash
# coffer stats totals against pflogsumm's (Debian package) on the same log.
source "$(dirname "$0")/lib.sh"
command -v pflogsumm >/dev/null || { bad "pflogsumm is not installed (scripts/deps.sh)"; finish; }

"$GEN" --events 20000 --seed 21 --truth "$T/truth.tsv" --out "$T/mail.log" 2>/dev/null
cof init >/dev/null
cof ingest "$T/mail.log" 2>/dev/null
# The log has two Postfix instances, "postfix" and "postfix-out". pflogsumm always
# reads "postfix" lines plus those of --syslog-name, so one run covers both.
pflogsumm --detail 0 --no_no_msg_size --syslog-name=postfix-out "$T/mail.log" > "$T/pfl.txt" 2>/dev/null
grand() { awk -v k="$1" '$2==k {print $1; exit}' "$T/pfl.txt"; }
delivered=$(grand delivered); bounced=$(grand bounced); rejected=$(grand rejected)
deferrals=$(awk '$2=="deferred" {gsub(/[()]/,""); print $3; exit}' "$T/pfl.txt")
# pflogsumm prints large counts with a k/m suffix; refuse to compare those.
for v in "$delivered" "$bounced" "$rejected" "$deferrals"; do
  case "$v" in *[!0-9]*|"") bad "unreadable pflogsumm figure '$v'"; finish;; esac
done
st() { cof stats --json | python3 -c "
import json,sys; d=json.load(sys.stdin); print(sum(g['count'] for g in d['groups'] if g['status']=='$1'))"; }
eq "delivered = pflogsumm's delivered" "$delivered" "$(st sent)"
eq "bounced = pflogsumm's bounced" "$bounced" "$(st bounced)"
eq "rejected = pflogsumm's rejected" "$rejected" "$(st rejected)"
eq "deferred attempts = pflogsumm's deferrals" "$deferrals" "$(st deferred)"
finish
