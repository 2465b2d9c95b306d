#!/bin/sh
# Debian's chromium and a Chinese font, for the browser tests and their screenshots.
# Needs root (CI and the dev machines run as root); quick when both are there already.
set -e
have_font() { fc-list :lang=zh 2>/dev/null | grep -q .; }
if command -v chromium >/dev/null 2>&1 && have_font; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium or a Chinese font is missing and this is not root: install Debian's" \
       "chromium and fonts-wqy-microhei to run the browser tests" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
