#!/usr/bin/env bash
# Debian packages audiotok uses: codec2 (c2enc/c2dec for the Codec2 tokenizer), espeak-ng
# (synthetic speech) and chromium (the headless test of the bench report page). Without root or
# sudo it only says what is missing: the tokenizers that need these report themselves
# unavailable instead, and the report test skips. apt's output goes to a log
# ($AUDIOTOK_APT_LOG, default /tmp/audiotok-apt.log); one line says what was installed.
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
log="${AUDIOTOK_APT_LOG:-/tmp/audiotok-apt.log}"
: > "$log"
if ! { "${sudo[@]}" apt-get update -q &&
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
    "${missing[@]}"; } >>"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "apt-get could not install ${missing[*]}; full log: $log" >&2
  exit 1
fi
echo "installed Debian packages: ${missing[*]} (apt log: $log)"
