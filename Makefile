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

clean:
	rm -rf $(VENV) build *.egg-info
