#!/usr/bin/env bash
# The real attack tools the tests run against a local nginx (signature cases,
# the e2e attack run), from Debian's packages. Idempotent: installs only what
# is missing, as root; elsewhere names what is missing and fails.
#
#   attack-tools.sh install   install the missing ones
#   attack-tools.sh check     exit 0 when every tool is on PATH, else name the missing
set -euo pipefail

# command:package
TOOLS=(ffuf:ffuf gobuster:gobuster wfuzz:wfuzz dirb:dirb sqlmap:sqlmap hydra:hydra nmap:nmap whatweb:whatweb wrk:wrk)

missing() {
  local t
  for t in "${TOOLS[@]}"; do
    command -v "${t%%:*}" >/dev/null 2>&1 || echo "${t#*:}"
  done
}

case "${1:-}" in
  check)
    m=$(missing | tr '\n' ' ')
    [ -z "$m" ] || { echo "attack-tools.sh: missing: $m" >&2; exit 1; }
    ;;
  install)
    m=$(missing | tr '\n' ' ')
    [ -n "$m" ] || exit 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      echo "attack-tools.sh: missing: $m (install them with apt-get as root)" >&2
      exit 1
    fi
    echo "attack-tools.sh: installing $m"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get -q -o DPkg::Lock::Timeout=300 install -y --no-install-recommends $m >/dev/null ||
      { apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null && apt-get -q -o DPkg::Lock::Timeout=300 install -y --no-install-recommends $m >/dev/null; }
    m=$(missing | tr '\n' ' ')
    [ -z "$m" ] || { echo "attack-tools.sh: still missing after install: $m" >&2; exit 1; }
    ;;
  *)
    echo "usage: $0 install|check" >&2
    exit 2
    ;;
esac
