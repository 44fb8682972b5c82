#!/usr/bin/env bash
# Installs @confluentinc/kafka-javascript (librdkafka) into node_modules for
# loadtest/bus-clients.bench.ts, WITHOUT saving it to package.json: it is not
# part of `npm install`. Why: its install step downloads a prebuilt binary
# from GitHub releases, and where that fails (no binary for the platform, or
# GitHub unreachable) it builds librdkafka from source, whose default
# (static) build downloads zlib, OpenSSL, zstd and curl sources from their
# sites: without internet access it fails. This script builds it against the
# system libraries instead (CKJS_LINKING=dynamic), installing their Debian
# -dev packages first (root only; otherwise it names them): about 2 minutes
# of compiling on this 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
version="${LIBRDKAFKA_JS_VERSION:-1.10.1}"
if node -e "require('@confluentinc/kafka-javascript')" 2>/dev/null; then
  echo "install-librdkafka.sh: @confluentinc/kafka-javascript already installed" >&2
  exit 0
fi
bash loadtest/peers/apt-install.sh build-essential libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev libsasl2-dev
CKJS_LINKING=dynamic npm install --no-save --no-audit --no-fund "@confluentinc/kafka-javascript@$version"
node -e "console.log('install-librdkafka.sh: librdkafka', require('@confluentinc/kafka-javascript').librdkafkaVersion)"
