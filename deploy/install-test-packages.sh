#!/usr/bin/env bash
# Installs the Debian packages in deploy/test-packages.txt that are missing (as root, or
# through sudo).
set -euo pipefail
cd "$(dirname "$0")"
missing=()
for p in $(grep -v '^#' test-packages.txt); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
