#!/usr/bin/env bash
# Install Debian's `chromium` for the browser test (tests/serve/test_app_browser.py).
# Playwright drives this system browser via executable_path=/usr/bin/chromium; we never run
# `playwright install` (it downloads its own browser). This script never fails the build: if the
# install does not work, the browser test skips and prints why.
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: $CHROMIUM already present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "install_browser: WARNING not root and no sudo; cannot install chromium, the browser test will skip"
        exit 0
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: WARNING apt-get not found; install chromium yourself, the browser test will skip"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq; then
    echo "install_browser: WARNING 'apt-get update' failed; trying the install with the current package lists"
fi
if $SUDO apt-get install -y -qq --no-install-recommends chromium >/tmp/install_browser.log 2>&1 && [ -x "$CHROMIUM" ]; then
    echo "install_browser: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
else
    echo "install_browser: WARNING 'apt-get install chromium' failed (log: /tmp/install_browser.log);" \
         "the browser test will skip"
    tail -n 5 /tmp/install_browser.log 2>/dev/null | sed 's/^/install_browser:   /'
fi
exit 0
