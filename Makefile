# One entry point for humans and CI. `make test` and `make demo` set up .venv themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
MPY := $(VENV)/bin/micropython
STAMP := $(VENV)/.installed

.PHONY: venv test test-host test-mpy demo fixtures clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	@status=0; \
	$(PY) -m pytest tests || status=1; \
	echo "== MicroPython dual suite =="; \
	$(PY) tests/run_mpy.py || status=1; \
	exit $$status

test-host: $(STAMP)
	$(PY) -m pytest tests

test-mpy: $(STAMP)
	$(PY) tests/run_mpy.py

demo: $(STAMP)
	$(PY) -m hostsim demo

# Regenerate committed fixtures (only on purpose: tests pin their bytes).
fixtures: $(STAMP)
	$(PY) -m hostsim.keys
	$(PY) -m hostsim.pki

# Coverage-guided fuzzing (tests/fuzz/run.py): every target for FUZZ_RUNS inputs, one after
# another on one core, with per-target totals. atheris is installed into the venv if missing.
# Long (tens of minutes); FUZZ_TARGETS=ipv6,router narrows it, FUZZ_RUNS=100000 shortens it.
FUZZ_RUNS ?= 1000000
FUZZ_TARGETS ?=
.PHONY: fuzz
fuzz: $(STAMP)
	@$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q 'atheris>=2.3,<4'
	$(PY) tests/fuzz/run.py --all --runs $(FUZZ_RUNS) $(if $(FUZZ_TARGETS),--targets $(FUZZ_TARGETS))

clean:
	rm -rf $(VENV) build *.egg-info
