# The README's commands. CI runs `make test` (through .ci/run).
.PHONY: demo test check setup setup-dev bench

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
