# Two commands for a fresh machine (Python 3.11 + package registries only):
#   make demo   set up .venv, then recognise emotions on a real photo with the shipped model
#   make test   set up .venv with the test extras (and Chromium for the browser tests), then run the suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ferkit-installed

.PHONY: setup demo test lint bench-train clean chromium

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (ferkit needs Python 3.11)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[demo,detect,serve,export,tune,distributed,test]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/ferkit demo --out runs/demo

chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || (sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive sudo apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

test: setup chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

bench-train: setup
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf $(VENV) runs test-artifacts .pytest_cache
