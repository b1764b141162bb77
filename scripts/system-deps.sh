#!/usr/bin/env bash
# Debian packages the project needs: mysqlclient's headers, what Dolt's cgo build needs, and
# Chromium + a font for the Playwright browser test (Playwright never downloads a browser here).
# Installs only what is missing; safe to re-run.
set -euo pipefail
pkgs=(default-libmysqlclient-dev pkg-config gcc g++ libicu-dev python3-venv git chromium fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[deps] installing: ${missing[*]}" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
