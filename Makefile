# The README's commands. CI runs `make test` (through .ci/run).
.PHONY: demo test check setup setup-dev bench bench-reading bench-intake bench-ui

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
