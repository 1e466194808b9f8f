#!/usr/bin/env bash
# Installs everything the test suite needs on Debian 12: the real servers the tests start
# themselves (Dovecot and GNU Mailutils pop3d, PostgreSQL), tmux for the terminal test, the
# benchmark and import peers (fetchmail, getmail6, mpop), procmail and Dovecot LMTP for the
# delivery targets, systemd-analyze to verify the service unit, and the Python packages in
# .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
PACKAGES=(python3-venv python3-dev dovecot-core dovecot-pop3d mailutils-pop3d postgresql tmux openssl fetchmail getmail6 mpop procmail dovecot-lmtpd locales systemd time)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# A Debian install starts the system's own Dovecot, pop3d and PostgreSQL; the tests run private
# instances on their own ports, so the system ones are not needed.
$SUDO service dovecot stop >/dev/null 2>&1 || true
$SUDO service mailutils-pop3d stop >/dev/null 2>&1 || true
# popa3d (an old server without CAPA, for tests/servers/popa3d.py and the benchmark) conflicts
# with dovecot-pop3d, so only its .deb is downloaded; the harness unpacks and runs it privately.
if ! ls .cache/debs/popa3d_*.deb >/dev/null 2>&1; then
  mkdir -p .cache/debs
  (cd .cache/debs && apt-get download -qq popa3d 2>/dev/null) || { $SUDO apt-get update -qq && (cd .cache/debs && apt-get download -qq popa3d); }
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
