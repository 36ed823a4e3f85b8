# The README's commands. CI runs `make test` (through .ci/run).
.PHONY: demo test test-fast check setup setup-dev catalogs bench bench-reading bench-intake bench-ui bench-review bench-faults

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

demo: setup
	scripts/demo.sh

check: setup-dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test: check
	.venv/bin/pytest

# The edit loop: no PostgreSQL, no browser, no crash loops or long end-to-end runs, nothing
# that needs root. `make test` (CI) still runs everything.
test-fast: check
	.venv/bin/pytest -n 2 -m "not slow and not postgres and not browser and not root"

bench: setup-dev
	.venv/bin/python scripts/bench_identify.py
	.venv/bin/python scripts/bench_register.py
	.venv/bin/python scripts/bench_digits.py

bench-reading: setup-dev
	.venv/bin/python scripts/bench_reading.py --sheets 40 --seed 1

bench-intake: setup-dev
	.venv/bin/pip install -q -e ".[dev,bench]"
	.venv/bin/python scripts/bench_intake.py

bench-ui: setup-dev
	.venv/bin/python scripts/bench_review_ui.py --items 60

# Reviewer load on a generated month of 40 sheets, and a scripted reviewer in Chromium.
bench-review: setup-dev
	.venv/bin/python scripts/bench_review.py --sheets 40 --seed 1

# A throwaway PostgreSQL server; the full-disk scenario mounts a tmpfs and needs root.
bench-faults: setup-dev
	.venv/bin/python scripts/bench_faults.py

# The translators' files: the catalog template extracted again from the code and templates,
# and merged into every language's catalog (new strings arrive untranslated).
catalogs: setup-dev
	.venv/bin/python scripts/catalogs.py
