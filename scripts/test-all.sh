#!/usr/bin/env bash
# Install everything the test suite needs on Debian 12 (Debian and Python packages)
# and run the whole suite. Run as root (or with sudo) from the project folder.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES="python3 python3-venv python3-dev gcc sip-tester mariadb-server freeradius freeradius-utils iproute2 procps"
missing=""
for pkg in $DEB_PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
fi
# the packaged services must not hold our test ports; the suite starts its own copies
for svc in mariadb freeradius; do
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
