#!/usr/bin/env bash
# Set up a fresh Debian machine (as root) to run Attendance Intake: system packages that are
# missing, a virtual environment in .venv, and the project installed into it.
#   scripts/setup.sh          what the program needs (tesseract, zbar, poppler, OCR-B font)
#   scripts/setup.sh --dev    also what the tests need (PostgreSQL server, Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

need=()
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr tesseract-ocr-eng)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
ldconfig -p 2>/dev/null | grep -q 'libzbar\.so\.0' || need+=(libzbar0)
# monthly-v2 sheets print their serial in OCR-B, a font tesseract reads reliably.
[ -f /usr/share/fonts/opentype/ocr-b/OCRB.otf ] || need+=(fonts-ocr-b)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# Fonts embedded in printed sheets and notices so names in any script print as written
# (forms/fonts.py): DejaVu and Noto (Latin, Vietnamese, Greek, Cyrillic and other scripts),
# Droid Sans Fallback (Chinese, Japanese), Nanum (Korean).
for font in fonts-dejavu-core fonts-noto-core fonts-droid-fallback fonts-nanum; do
  dpkg -s "$font" >/dev/null 2>&1 || need+=("$font")
done
if [ "$dev" = 1 ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  # The web app's browser tests drive Debian's Chromium headless (Playwright never downloads
  # a browser of its own here).
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  # Handwriting fonts: variety in generated test sheets and in digit-model training. With
  # them installed, a fixture seed gives the same sheets here as in CI.
  for font in fonts-dkg-handwriting fonts-breip fonts-humor-sans fonts-femkeklaver \
              fonts-rufscript fonts-klee; do
    dpkg -s "$font" >/dev/null 2>&1 || need+=("$font")
  done
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing system packages: ${need[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$dev" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e ".[postgres]"
fi
echo "setup: ready (.venv/bin/attend)"
