#!/usr/bin/env bash
# coffer probe against real servers from Debian packages on loopback, each once open and
# once locked down: Redis, Memcached, PostgreSQL, MariaDB, etcd and an nginx directory
# listing. (CouchDB has no Debian 12 package: see test_probe_wire.sh.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/probe_lib.sh"

# ---- Redis ----
if command -v redis-server >/dev/null; then
  p=$(freeport)
  redis-server --port "$p" --bind 127.0.0.1 --protected-mode no --save "" --appendonly no \
    --dir "$T" --logfile "$T/redis1.log" & PIDS+=($!)
  waitport "$p"
  redis-cli -p "$p" set probe:k1 v >/dev/null; redis-cli -p "$p" set probe:k2 v >/dev/null
  expect_open "redis" "$p" redis.no-auth critical
  check "redis evidence: version and key count, no values" grep -q '2 keys in 1 databases' "$T/o.json"
  q=$(freeport)
  redis-server --port "$q" --bind 127.0.0.1 --requirepass "s3cret-$RANDOM" --save "" \
    --appendonly no --dir "$T" --logfile "$T/redis2.log" & PIDS+=($!)
  waitport "$q"
  expect_locked "redis (requirepass)" "$q"
else
  bad "redis-server not installed"
fi

# ---- Memcached ----
if command -v memcached >/dev/null; then
  p=$(freeport)
  memcached -l 127.0.0.1 -p "$p" -U 0 -u root & PIDS+=($!)
  waitport "$p"
  expect_open "memcached" "$p" memcached.no-auth critical
  # Locked down: listening on a unix socket only (Debian's memcached has SASL, but a
  # SASL database needs saslpasswd2; a socket-only server is the usual lock-down).
  echo "# memcached locked = unix socket only (-s), no TCP listener"
  q=$(freeport)
  memcached -s "$T/mc.sock" -u root & PIDS+=($!)
  sleep 0.5
  check "memcached socket-only server runs" test -S "$T/mc.sock"
  expect_locked "memcached (unix socket only)" "$q" closed
else
  bad "memcached not installed"
fi

# ---- PostgreSQL: trust, then scram-sha-256 ----
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -n "$PGBIN" ] && id postgres >/dev/null 2>&1; then
  PGD=$(mktemp -d /tmp/coffer-pg.XXXXXX); chown postgres "$PGD"
  p=$(freeport)
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGD/data" --auth=trust -U postgres >"$T/initdb.log" 2>&1
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/log" -w \
    -o "-p $p -k $PGD -c listen_addresses=127.0.0.1" start >/dev/null
  waitport "$p"
  expect_open "postgresql" "$p" postgresql.trust critical
  check "postgresql evidence has server_version" grep -q 'server_version [0-9]' "$T/o.json"
  sed -i 's/trust$/scram-sha-256/' "$PGD/data/pg_hba.conf"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" reload >/dev/null; sleep 1
  expect_locked "postgresql (scram-sha-256)" "$p"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate stop >/dev/null
  rm -rf "$PGD"
else
  bad "postgresql not installed"
fi

# ---- MariaDB: root without a password over TCP, then with one ----
if command -v mariadbd >/dev/null; then
  MY=$T/my; mkdir -p "$MY"
  mariadb-install-db --no-defaults --datadir="$MY/data" --user=root \
    --auth-root-authentication-method=normal >"$T/myinst.log" 2>&1
  p=$(freeport)
  mariadbd --no-defaults --datadir="$MY/data" --socket="$MY/sock" --port="$p" \
    --bind-address=127.0.0.1 --skip-name-resolve --user=root --pid-file="$MY/pid" \
    --log-error="$MY/err.log" 2>"$MY/stderr" & PIDS+=($!)
  waitport "$p" 60
  mariadb --no-defaults -S "$MY/sock" -u root -e \
    "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1';" 2>>"$T/my.err"
  expect_open "mariadb" "$p" mysql.root-no-password critical
  mariadb --no-defaults -S "$MY/sock" -u root -e \
    "ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY 'Pr0be-lock'; ALTER USER IF EXISTS 'root'@'::1' IDENTIFIED BY 'Pr0be-lock'; ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED BY 'Pr0be-lock';" 2>>"$T/my.err"
  expect_locked "mariadb (root password set)" "$p"
  eq "mariadb locked: version banner is low" "low" "$(sev_of "$T/l.json" mysql.banner)"
else
  bad "mariadb not installed"
fi

# ---- etcd: open, then auth enabled ----
if command -v etcd >/dev/null; then
  p=$(freeport); pp=$(freeport)
  etcd --name probe --data-dir "$T/etcd" --listen-client-urls "http://127.0.0.1:$p" \
    --advertise-client-urls "http://127.0.0.1:$p" --listen-peer-urls "http://127.0.0.1:$pp" \
    --initial-advertise-peer-urls "http://127.0.0.1:$pp" --initial-cluster "probe=http://127.0.0.1:$pp" \
    --logger zap --log-outputs stderr >"$T/etcd.log" 2>&1 & PIDS+=($!)
  waitport "$p" 30
  E=http://127.0.0.1:$p
  for i in $(seq 1 50); do curl -s -m 2 "$E/health" | grep -q true && break; sleep 0.2; done
  curl -s -m 5 -X POST "$E/v3/kv/put" -d '{"key":"cHJvYmUx","value":"eA=="}' >/dev/null
  expect_open "etcd" "$p" etcd.no-auth critical
  curl -s -m 5 -X POST "$E/v3/auth/user/add" -d '{"name":"root","password":"Pr0be-lock"}' >/dev/null
  curl -s -m 5 -X POST "$E/v3/auth/role/add" -d '{"name":"root"}' >/dev/null
  curl -s -m 5 -X POST "$E/v3/auth/user/grant" -d '{"user":"root","role":"root"}' >/dev/null
  curl -s -m 5 -X POST "$E/v3/auth/enable" -d '{}' >"$T/etcd-auth.json"
  echo "# etcd auth enable: $(cat "$T/etcd-auth.json")"
  expect_locked "etcd (auth enabled)" "$p"
else
  bad "etcd not installed"
fi

# ---- nginx: a directory listing with mail logs, then autoindex off ----
if command -v nginx >/dev/null; then
  mkdir -p "$T/www" "$T/nginx"
  echo "Nov 23 10:00:00 mx postfix/smtp[1]: ABC: to=<x@example.org>, status=sent" >"$T/www/mail.log"
  gzip -c "$T/www/mail.log" >"$T/www/mail.log.1.gz"
  for mode in on off; do
    p=$(freeport)
    cat >"$T/nginx/$mode.conf" <<NG
user root;
daemon off;
pid $T/nginx/$mode.pid;
error_log $T/nginx/$mode.err;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $T/nginx/tmp; proxy_temp_path $T/nginx/tmp; fastcgi_temp_path $T/nginx/tmp;
  uwsgi_temp_path $T/nginx/tmp; scgi_temp_path $T/nginx/tmp;
  server { listen 127.0.0.1:$p; root $T/www; autoindex $mode; }
}
NG
    nginx -c "$T/nginx/$mode.conf" -p "$T/nginx" & PIDS+=($!)
    waitport "$p"
    if [ $mode = on ]; then
      expect_open "nginx autoindex" "$p" http.log-listing critical
      check "listing evidence names a log file, not its contents" grep -q 'offers 2 log files' "$T/o.json"
      check "no log line in the output" bash -c "! grep -q 'status=sent' '$T/o.json'"
    else
      expect_locked "nginx (autoindex off)" "$p"
    fi
  done
else
  bad "nginx not installed"
fi

finish
