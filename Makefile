# aimesh: `make run` serves the mesh on embedded defaults; `make test` tests it.
# Both set themselves up: the first run creates .venv from requirements.txt.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install protos run test test-reliability lint fmt bench eval-guardrails eval-retrieval train-guardrails clean

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps -r requirements.txt
	touch $(STAMP)

protos: $(STAMP)
	$(PY) scripts/gen_protos.py

run: $(STAMP)
	$(PY) scripts/run_mesh.py

test: $(STAMP)
	$(PY) -m pytest -m "not reliability"

test-reliability: $(STAMP)
	$(PY) -m pytest -s -m reliability tests/reliability

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	cd protos && ../$(VENV)/bin/buf lint
	cd protos && ../$(VENV)/bin/buf breaking --against '../.git#branch=main,subdir=protos'

fmt: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP)
	$(PY) -m bench

eval-guardrails: $(STAMP)
	$(PY) -m services.guardrails.eval

train-guardrails: $(STAMP)
	$(PY) -m services.guardrails.train

eval-retrieval: $(STAMP)
	$(PY) -m services.retrieval.eval

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
