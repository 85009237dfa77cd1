#!/usr/bin/env bash
# Runs the whole corscope test suite on a fresh Debian machine with the Rust toolchain:
# installs the system packages the tests drive (when missing), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# Tools the integration tests use; each is checked so reruns skip the install.
# chromium: the end-to-end test drives a real headless browser through corscope;
# tmux: the live UI test runs corscope in a real terminal.
for pkg_cmd in "curl:curl" "chromium:chromium" "tmux:tmux"; do
  pkg=${pkg_cmd%%:*}; cmd=${pkg_cmd##*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# The HAR tests also validate exports against the HAR 1.2 JSON schema with npm's
# har-validator (Node.js and npm come with the machine; install them if missing).
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
fi
if [ ! -d target/npm-tools/node_modules/har-validator ]; then
  npm install --prefix target/npm-tools --no-audit --no-fund --loglevel=error har-validator@5.1.5
fi

cargo test --locked --all-targets
