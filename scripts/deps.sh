#!/usr/bin/env bash
# Install the Debian 12 packages coffer needs, only those that are missing.
# Usage: scripts/deps.sh [build|test|bench]   (each level includes the ones before)
set -euo pipefail
level=${1:-test}
pkgs=(build-essential cmake pkg-config libsodium-dev libzstd-dev libjansson-dev zlib1g-dev gzip
      libgnutls28-dev libmicrohttpd-dev libcurl4-gnutls-dev)
if [ "$level" = test ] || [ "$level" = bench ]; then
  pkgs+=(libcmocka-dev clang libclang-rt-14-dev python3 pflogsumm procps util-linux
        curl gnutls-bin rsyslog rsyslog-gnutls iproute2 strace
        redis-server memcached mariadb-server etcd-server nginx-light postgresql)
fi
if [ "$level" = bench ]; then
  pkgs+=(sqlite3 postgresql zstd time wrk bc)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
