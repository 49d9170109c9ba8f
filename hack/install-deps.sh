#!/usr/bin/env bash
# Installs what clawfleet needs to build, test and demo. Idempotent: installs only what is
# missing. Debian/Ubuntu through apt-get (as root, or through sudo), macOS through Homebrew. On
# macOS it runs under the system's bash 3.2 (hack/macos_shell_check.sh guards that).
set -euo pipefail

deb_packages=(
  build-essential pkg-config clang git ca-certificates curl python3 python3-yaml
  libgit2-dev libyaml-dev libjson-c-dev libcurl4-openssl-dev libssl-dev
  libmicrohttpd-dev libcmocka-dev haproxy valgrind chromium prometheus faketime
  libclang-rt-dev socat etcd-server etcd-client
)
# socat is make bench's baseline for HAProxy's Runtime API (a connection per command);
# prometheus brings promtool; faketime brings libfaketime, which tests/integration/clock_step.sh
# steps the controller's wall clock with (Linux only); libclang-rt-dev the libFuzzer runtime of
# clang (make fuzz); etcd-server the store several controller replicas share (store: {type:
# etcd}: the unit tests of record/etcd and the ha_* integration tests start their own members),
# etcd-client its etcdctl, which those tests use to look at the keys.
brew_packages=(pkg-config libgit2 libyaml json-c curl openssl@3 libmicrohttpd cmocka haproxy git python@3 prometheus socat etcd)
# make demo needs nothing more: its scripts run on macOS's bash 3.2 and BSD tools. The
# integration tests behind make test run in CI on Debian and keep GNU tools and bash 4+:
# bash (tests/run's wait -n, associative arrays in some scripts), coreutils (timeout, stat -c,
# date +%N, sha256sum), gnu-sed (sed -i without a suffix). Homebrew installs coreutils and
# gnu-sed with a g prefix; README "On a Mac" puts their gnubin directories first on PATH.
brew_test_packages=(bash coreutils gnu-sed)

missing_deb() {
  local p
  for p in "${deb_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

install_debian() {
  local need
  need=$(missing_deb)
  if [ -z "$need" ]; then
    echo "install-deps: all Debian packages present"
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: $need" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "install-deps: installing:" $need
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  # shellcheck disable=SC2086
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends $need >/dev/null
}

install_macos() {
  command -v brew >/dev/null || { echo "install-deps: Homebrew is required on macOS (https://brew.sh)" >&2; exit 1; }
  local p
  for p in "${brew_packages[@]}" "${brew_test_packages[@]}"; do
    brew list --versions "$p" >/dev/null 2>&1 || brew install "$p"
  done
  # The status page test renders the page in a Chromium-family browser. Homebrew's chromium
  # cask is disabled (its app is not signed); Google Chrome is. An installed Chrome, Chromium or
  # Edge is used as it is.
  if ! "$(dirname "$0")/browser.sh" >/dev/null 2>&1; then
    brew install --cask google-chrome ||
      echo "install-deps: no browser: the status page test will be skipped (brew install --cask google-chrome to run it)" >&2
  fi
}

case "$(uname -s)" in
  Linux)
    command -v apt-get >/dev/null || { echo "install-deps: only Debian/Ubuntu (apt-get) is supported on Linux" >&2; exit 1; }
    install_debian ;;
  Darwin) install_macos ;;
  *) echo "install-deps: unsupported system $(uname -s)" >&2; exit 1 ;;
esac
