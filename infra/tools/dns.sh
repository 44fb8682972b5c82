#!/usr/bin/env bash
# The DNS server the crawler-verification tests start on loopback (Debian's
# dnsmasq, run by services/detector/crawlers/verify.test.ts with its own PTR
# and A/AAAA records, --no-resolv: it never forwards a query off the machine).
# Only the binary is wanted: dnsmasq-base, not the dnsmasq package, whose
# system service would start a resolver on port 53. Idempotent.
#
#   dns.sh install   install it when missing (as root with apt-get), else say how and exit 1
#   dns.sh check     exit 0 when dnsmasq is there, else say how to get it and exit 1
set -euo pipefail

log() { printf 'dns.sh: %s\n' "$*" >&2; }

check() {
  command -v dnsmasq >/dev/null && return 0
  log "missing: dnsmasq (bash infra/tools/dns.sh install, as root)"
  return 1
}

install() {
  command -v dnsmasq >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "missing Debian package: dnsmasq-base; install it (sudo apt-get install -y dnsmasq-base) or run this as root so it can"
    return 1
  fi
  log "installing dnsmasq-base"
  local apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  # A package list never fetched (a fresh container) knows nothing of it.
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends dnsmasq-base >&2 \
    || { "${apt[@]}" update >&2 && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends dnsmasq-base >&2; } \
    || { log "apt-get could not install dnsmasq-base (see above)"; return 1; }
  check
}

case "${1:-}" in
  install) install ;;
  check) check ;;
  *) log "usage: dns.sh install|check"; exit 2 ;;
esac
