#!/usr/bin/env bash
# The real attack tools the tests run against a local nginx, from Debian's
# packages: the end-to-end run (infra/e2e/attack.mjs: all of them but nmap)
# and the signature cases (services/detector/tool-signatures.test.ts: ffuf,
# gobuster, wfuzz, dirb, sqlmap, hydra, nmap, whatweb). Idempotent: installs
# only what is missing.
#
#   attack-tools.sh install   install the missing ones (as root with apt-get), else name them and exit 1
#   attack-tools.sh check     exit 0 when every tool is there, else name the missing ones and exit 1
set -euo pipefail

log() { printf 'attack-tools.sh: %s\n' "$*" >&2; }

# binary:package; dirb's word list comes with its package.
tools=(dirb:dirb hydra:hydra sqlmap:sqlmap wrk:wrk ffuf:ffuf gobuster:gobuster wfuzz:wfuzz nmap:nmap whatweb:whatweb)
wordlist=/usr/share/dirb/wordlists/common.txt

missing_packages() {
  local t
  for t in "${tools[@]}"; do command -v "${t%%:*}" >/dev/null || echo "${t#*:}"; done
  [ -f "$wordlist" ] || echo dirb
}

check() {
  local missing
  missing=$(missing_packages | sort -u | tr '\n' ' ')
  [ -z "$missing" ] && return 0
  log "missing: ${missing% } (bash infra/tools/attack-tools.sh install, as root)"
  return 1
}

install() {
  local missing=()
  mapfile -t missing < <(missing_packages | sort -u)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "missing Debian packages: ${missing[*]}; install them (sudo apt-get install -y ${missing[*]}) or run this as root so it can"
    return 1
  fi
  log "installing ${missing[*]}"
  local apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  # A package list never fetched (a fresh container) knows none of them.
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2 \
    || { "${apt[@]}" update >&2 && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2; } \
    || { log "apt-get could not install ${missing[*]} (see above)"; return 1; }
  check
}

case "${1:-}" in
  install) install ;;
  check) check ;;
  *) log "usage: attack-tools.sh install|check"; exit 2 ;;
esac
