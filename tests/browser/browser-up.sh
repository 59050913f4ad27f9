#!/usr/bin/env bash
# Install Debian's chromium and its chromedriver for the browser tests, if missing (no browser download:
# the packages come from apt). Prints the paths of the two executables.
# Exit codes: 0 ready; 69 could not install; 77 not root / no apt (caller should skip, except on CI).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs="chromium chromium-driver"
if ! dpkg -s $pkgs >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then echo "browser-up: needs root to install $pkgs with apt" >&2; exit 77; fi
  command -v apt-get >/dev/null || { echo "browser-up: no apt-get; install $pkgs by hand" >&2; exit 77; }
  apt-get update -qq >/dev/null || { echo "browser-up: apt-get update failed" >&2; exit 69; }
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null \
    || { echo "browser-up: apt-get install $pkgs failed" >&2; exit 69; }
fi
browser=$(command -v chromium || true)
driver=$(command -v chromedriver || true)
[ -x "$browser" ] && [ -x "$driver" ] || { echo "browser-up: chromium or chromedriver missing after install" >&2; exit 69; }
echo "$browser"
echo "$driver"
