#!/usr/bin/env bash
# The main job end to end on the embedded defaults (SQLite and a data folder):
# import certificates, issue and print a month of sheets, fill them in by hand and scan them
# into the intake folder, watch it once, and show what was received.
set -euo pipefail
cd "$(dirname "$0")/.."
export ATTEND_HOME="${ATTEND_HOME:-$PWD/attend-data/demo}"
month="${DEMO_MONTH:-2026-11}"
# The demo runs as of 2026-12-02 (in time for November's sheets, due Dec 7) whatever today's
# date is, so it shows the same on any day: the program's clock is shifted (attendance.clock).
if [ -z "${ATTEND_CLOCK_SHIFT_S:-}" ]; then
  export ATTEND_CLOCK_SHIFT_S=$(( $(date -d "${DEMO_NOW:-2026-12-02T17:00:00Z}" +%s) - $(date +%s) ))
fi
attend=.venv/bin/attend
rm -rf "$ATTEND_HOME"
mkdir -p "$ATTEND_HOME"
set -x
$attend init
$attend certificates import fixtures/certificates.csv
$attend sheets issue --month "$month"
$attend sheets print --month "$month" -o "$ATTEND_HOME/printed/"
.venv/bin/python -m fixtures.scanbatch "$ATTEND_HOME"/printed/*.pdf --fill "$month" -o "$ATTEND_HOME/inbox"
# The watched folder, once: claim the stable files, two workers read their pages, then the
# batch report (exit 5 would mean a file was quarantined).
$attend intake watch "$ATTEND_HOME/inbox" --once --workers 2 --settle 1 || [ $? -eq 5 ]
$attend sheets list --month "$month"
$attend export --month "$month" --format json -o "$ATTEND_HOME/export-$month.json"
$attend export --month "$month" --format csv -o "$ATTEND_HOME/export-$month.csv"
set +x
.venv/bin/python - "$ATTEND_HOME/export-$month.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
times = [d[k] for s in data["sheets"] for d in s["days"] for k in ("time_in", "time_out")]
read = [t for t in times if t["machine_value"]]
review = [t for t in read if t["needs_review"]]
absences = sum(1 for s in data["sheets"] for d in s["days"] if d["absence"]["code"])
signed = sum(v["signed"] is True for s in data["sheets"] for v in s["signatures"].values())
print(f"read: {len(read)} handwritten times ({len(review)} sent to review), "
      f"{absences} absences, {signed} signatures")
first = data["sheets"][0]
print(f"sheet {first['serial']}, first days:")
for day in first["days"][:7]:
    t_in, t_out = day["time_in"], day["time_out"]
    print(f"  {day['date']}  in {t_in['value'] or '-':>5} ({t_in['confidence'] or 0:.2f})"
          f"  out {t_out['value'] or '-':>5} ({t_out['confidence'] or 0:.2f})"
          f"  absence {day['absence']['code'] or '-'}")
PY
echo
echo "demo data in $ATTEND_HOME (printed sheets in printed/, scans in inbox/, exports beside them)"
echo "to work the review queue in a browser:"
echo "  export ATTEND_HOME=$ATTEND_HOME ATTEND_CLOCK_SHIFT_S=$ATTEND_CLOCK_SHIFT_S"
echo "  .venv/bin/attend users add reviewer --role reviewer"
echo "  .venv/bin/attend review serve   # then http://127.0.0.1:8080/"
