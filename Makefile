# The two commands a new machine needs are `make demo` and `make test` (see README.md).
PY ?= .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: install browser demo test test-fast lint format typecheck bench-trainer bench-samplers clean

$(VENV_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q -e '.[dev]'
	touch $(VENV_STAMP)

install: $(VENV_STAMP)

# Chromium for the web UI tests, from Debian when we may (root); without it they skip.
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& DEBIAN_FRONTEND=noninteractive apt-get update -q \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-liberation fonts-dejavu-core; } \
		|| echo "make: no /usr/bin/chromium; the browser tests will skip (apt-get install chromium)"

# The main job on the embedded default: hpo serve (SQLite under .hpo-demo/) and local workers
# run grid, random, TPE and LIPO on the MNIST-1D MLP space (about 5 minutes on 2 CPU cores),
# print the leaderboard, retrain the winner (--final), print the comparison table and the web
# page's URL, and serve until Ctrl-C.
# Options pass through: make demo DEMO_ARGS="--exit --port 8080".
demo: install
	.venv/bin/hpo demo $(DEMO_ARGS)

# Lint, type-check, then the whole test suite (unit, integration, e2e).
test: install browser lint typecheck
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m unit

lint: install
	.venv/bin/ruff check hpo trainers api tests bench
	.venv/bin/ruff format --check hpo trainers api tests bench

format: install
	.venv/bin/ruff format hpo trainers api tests bench
	.venv/bin/ruff check --fix hpo trainers api tests bench

# hpo, trainers and api strictly ([tool.mypy] in pyproject.toml); tests and bench typed, not
# strict (tests/mypy.ini).
typecheck: install
	.venv/bin/mypy
	.venv/bin/mypy --config-file tests/mypy.ini tests bench

bench-trainer: install
	$(PY) bench/trainer_overhead.py

bench-samplers: install
	.venv/bin/hpo bench --budgets 50,200 --seeds 10 --out bench/out/samplers

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
