#!/usr/bin/env bash
# Debian packages audiotok uses: codec2 (c2enc/c2dec for the Codec2 tokenizer), espeak-ng
# (synthetic speech) and chromium (the headless test of the bench report page). Without root or
# sudo it only says what is missing: the tokenizers that need these report themselves
# unavailable instead, and the report test skips.
set -euo pipefail
packages=(codec2 espeak-ng chromium)

if ! command -v dpkg >/dev/null 2>&1; then
  echo "note: not a Debian system; install the equivalents of: ${packages[*]}" >&2
  exit 0
fi
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo)
else
  echo "note: cannot install ${missing[*]} without root; codecs needing them report unavailable" >&2
  exit 0
fi
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
