#!/usr/bin/env bash
# Installs the Debian packages of the peers the benchmarks compare against
# (rsyslog + rsyslog-kafka, crowdsec, fail2ban), idempotently. Root only;
# otherwise it names what is missing and exits 1 (the benchmark then skips
# that peer and says so). Package services are never started: the
# benchmarks run the peers themselves, on their own ports and files.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: apt-install.sh PACKAGE..." >&2; exit 2; }
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "apt-install.sh: missing ${missing[*]} (run as root on Debian, or install them)" >&2
  exit 1
fi
exec 8>"${TMPDIR:-/tmp}/logwarden-peers-install.lock"
flock -w 900 8
policy=/usr/sbin/policy-rc.d
made=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; made=1
  trap '[ -n "$made" ] && rm -f "$policy"' EXIT
fi
apt=(apt-get -q -o DPkg::Lock::Timeout=300)
echo "apt-install.sh: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2 \
  || { "${apt[@]}" update >&2 && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2; }
