#!/usr/bin/env bash
# Make sure the dashboard's browser tests have headless Chromium and its WebDriver:
# Debian's chromium and chromium-driver packages (/usr/bin/chromium, /usr/bin/chromedriver).
# Installs them with apt-get when running as root, and otherwise stops with a message
# saying what is missing and how to get it. Nothing is downloaded at test time.
set -uo pipefail

say() { printf 'browser: %s\n' "$*"; }
die() { printf 'browser: %s\n' "$*" >&2; exit 1; }

have_browser() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }

if have_browser; then
  say "$(/usr/bin/chromium --version 2>/dev/null | head -n 1) with $(/usr/bin/chromedriver --version | cut -d' ' -f1-2)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  die "headless Chromium is missing for the dashboard's browser tests.
  Install it (Debian/Ubuntu: sudo apt-get install chromium chromium-driver) and run make test again."
fi
say "installing chromium and chromium-driver with apt-get"
DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null ||
  die "apt-get could not install chromium chromium-driver"
have_browser || die "chromium-driver is installed but /usr/bin/chromedriver is missing"
say "installed $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
