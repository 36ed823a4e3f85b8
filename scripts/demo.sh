#!/usr/bin/env bash
# The main job end to end on the embedded defaults (SQLite and a data folder):
# import certificates, issue and print a month of sheets, scan them into a batch,
# run intake, and show what was received.
set -euo pipefail
cd "$(dirname "$0")/.."
export ATTEND_HOME="${ATTEND_HOME:-$PWD/attend-data/demo}"
month="${DEMO_MONTH:-2026-11}"
attend=.venv/bin/attend
rm -rf "$ATTEND_HOME"
mkdir -p "$ATTEND_HOME"
set -x
$attend init
$attend certificates import fixtures/certificates.csv
$attend sheets issue --month "$month"
$attend sheets print --month "$month" -o "$ATTEND_HOME/printed/"
.venv/bin/python -m fixtures.scanbatch "$ATTEND_HOME"/printed/*.pdf -o "$ATTEND_HOME/inbox"
$attend intake run "$ATTEND_HOME/inbox" || true   # exit 5 would mean a file failed
$attend sheets list --month "$month"
$attend export --month "$month" --format json -o "$ATTEND_HOME/export-$month.json"
$attend export --month "$month" --format csv -o "$ATTEND_HOME/export-$month.csv"
set +x
echo
echo "demo data in $ATTEND_HOME (printed sheets in printed/, scans in inbox/, exports beside them)"
