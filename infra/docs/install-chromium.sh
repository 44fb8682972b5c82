#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser test (services/dashboard/
# dashboard.test.ts drives it with playwright-core) and the README's
# screenshot: Debian's `chromium` package, installed when missing. Idempotent.
# Where it cannot be installed (no root, no apt) it says so and exits 0: the
# browser test then skips itself, naming the reason (under CI=true it fails
# instead: shared/testing/require-tool.ts).
set -euo pipefail

log() { printf 'install-chromium.sh: %s\n' "$*" >&2; }

for bin in "${LOGWARDEN_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$bin" ] && [ -x "$bin" ]; then
    log "chromium present: $bin"
    exit 0
  fi
done

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  log "chromium is missing and this is not root with apt-get: install Debian's 'chromium' package (the dashboard's browser test skips until then, and fails under CI=true)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# An apt list that never was fetched (a fresh container) knows no chromium.
if ! apt-cache show chromium >/dev/null 2>&1; then apt-get update -qq; fi
if apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; then
  log "installed: $(chromium --version 2>/dev/null | tail -1)"
else
  log "apt-get could not install chromium: the dashboard's browser test will skip (fail under CI=true)"
fi
