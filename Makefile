# The two commands a newcomer runs: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sphembed-installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml .ci/system_deps.sh
	bash .ci/system_deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# pyrender pins PyOpenGL 3.1.0, which cannot create headless contexts; upgrading it in the same pip command
	# makes pip downgrade pyrender, so it is a separate step.
	$(PY) -m pip install --quiet 'PyOpenGL==3.1.7'
	touch $(STAMP)

test: install
	$(PY) -m pytest -q tests

demo: install
	$(VENV)/bin/sphembed demo

bench: install
	# The optional `bench` extra (s2fft, JAX) for bench_pose's comparison; without it that column is skipped.
	$(PY) -m pip install --quiet -e '.[bench]' || echo "bench extra not installed: bench_pose skips s2fft"
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
