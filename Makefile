# imgsec: `make demo` runs an offline demo scan, `make test` runs the whole suite (what CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := docker-registry apache2-utils debootstrap umoci skopeo buildah golang-go etcd-server etcd-client zstd openssl jq binutils chromium rpm openjdk-17-jdk-headless
SHARED ?= $(abspath ../shared)
export IMGSEC_DB_MIRROR ?= $(SHARED)/vulndata
PYTEST_ARGS ?=

.PHONY: demo test check lint typecheck unit venv system-deps fixtures bench clean

$(BIN)/imgsec: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/imgsec

demo: venv
	$(BIN)/imgsec demo

# Programs the integration tests run for real (registry, image tools, etcd). Installs them when
# missing and we are root; otherwise says what to install.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "make test needs these Debian packages: $$missing (sudo apt-get install $$missing)"; exit 2; fi; \
	fi
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; } || { echo "make test needs npm (apt-get install npm)"; exit 2; }

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

fixtures: venv system-deps
	$(BIN)/python -m tests.fixtures.images build-all

test: venv system-deps lint typecheck fixtures
	$(BIN)/pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

bench: venv system-deps
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
