# Every target creates/uses .venv itself: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lockstep demo

test: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(BIN)/python -m pytest -q -n 2  # two processes: the suite is mostly waiting on servers and databases

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(BIN)/python bench/queue.py
	$(BIN)/python bench/orders.py --unthrottled
	$(BIN)/python bench/orders.py
	$(BIN)/python bench/shipments.py
	$(BIN)/python bench/shipments.py --growth
	$(BIN)/python bench/reconcile.py
	$(BIN)/python bench/reconcile.py --postgres
	$(BIN)/python bench/peak_sale.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
