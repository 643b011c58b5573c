# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PYTEST_WORKERS ?= 2
# checkov pins libraries the dev tools also pin, so it lives in a venv of its own (inside .venv: ignored, and
# `make clean` removes it)
CHECKOV_VENV := $(VENV)/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
MUTANTS_STAMP := $(VENV)/.installed-mutants

# The DJL model server image runs Python 3.10: the core's unit tests also run under a 3.10 when this machine
# has one that runs (pyenv's, or on PATH; a pyenv shim without that version does not count), in a venv of
# its own with the runtime dependencies only.
PYTHON310 ?= $(shell for p in $(HOME)/.pyenv/versions/3.10*/bin/python3.10 $$(command -v python3.10); do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV310 := .venv310
CORE_TESTS := tests/unit/test_timing.py tests/unit/test_chunks.py tests/unit/test_tiling.py \
	tests/unit/test_synthesis.py tests/unit/test_metrics.py tests/unit/test_options.py \
	tests/unit/test_engine_film.py tests/unit/test_engine_flow.py tests/unit/test_probe.py tests/unit/test_chunkio.py

.PHONY: demo test lint check-template check-asl unit bench mutants clean test-py310 sam-local

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

$(CHECKOV): | $(BIN)/python
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.2,<4'

## demo: render a sample clip, slow it down 8x with the flow engine, write a side-by-side comparison
demo: $(RUN_STAMP)
	$(BIN)/slowmo sample out/demo-source.mp4 --seconds 3 --size 640x360 --fps 24 --overwrite
	$(BIN)/slowmo run out/demo-source.mp4 -o out/demo-slowmo.mp4 --factor 8 --compare out/demo-compare.mp4 --overwrite --fresh
	@echo "wrote out/demo-slowmo.mp4 and out/demo-compare.mp4; to run slowmo yourself: . .venv/bin/activate"

## test: static checks, then the whole pytest suite
# The Python 3.10 run goes first so that the whole suite's summary is the last line CI reads.
test: lint
	@$(MAKE) --no-print-directory test-py310
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --ignore=tests/containers

## sam-local: every image built offline, `sam build`, every event invoked in its function's image, Lambda's
## limits enforced, and a whole job through the containers (needs Docker: tools/containers/dockerd.sh start)
sam-local: $(DEV_STAMP)
	bash tools/containers/sam_local.sh

$(VENV310)/.installed: pyproject.toml
	$(PYTHON310) -m venv $(VENV310)
	$(VENV310)/bin/python -m pip install --quiet --upgrade pip
	$(VENV310)/bin/python -m pip install --quiet -e . 'pytest>=8'
	touch $@

## test-py310: the core's unit tests under Python 3.10 (TensorFlow-only tests skip: no TF in that venv)
test-py310:
ifeq ($(PYTHON310),)
	@echo "test-py310: skipped: no python3.10 on this machine (PATH or ~/.pyenv/versions/3.10*)"
else
	@$(MAKE) --no-print-directory $(VENV310)/.installed
	$(VENV310)/bin/python --version
	$(VENV310)/bin/python -m pytest -q -p no:cacheprovider $(CORE_TESTS)
endif

lint: $(DEV_STAMP)
	$(BIN)/ruff check layers functions model tests benchmarks tools
	@if [ -f template.yaml ]; then $(MAKE) --no-print-directory check-template; fi

check-template: $(DEV_STAMP) $(CHECKOV)
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV) -f template.yaml --framework cloudformation --quiet --compact --skip-download
	SAM_CLI_TELEMETRY=0 $(BIN)/sam validate --lint --template-file template.yaml --region us-east-1
	$(BIN)/python tests/statemachine/lint_asl.py

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

$(MUTANTS_STAMP): tools/requirements-mutants.txt $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -r tools/requirements-mutants.txt
	touch $@

## mutants: mutation testing of the modules that hold guards, each against its narrow tests (not in test or CI);
## MODULES="timeline/scenes timeline/chunks" runs a subset. docs/mutation-testing.md has the last score and the survivors.
mutants: $(MUTANTS_STAMP)
	$(BIN)/python tools/mutants.py $(MODULES)

clean:
	rm -rf $(VENV) $(VENV310) out .pytest_cache .ruff_cache
