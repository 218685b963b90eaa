# Two commands for a fresh machine (Python 3.11 + package registries only):
#   make demo   set up .venv, then recognise emotions on a real photo with the shipped model
#   make test   set up .venv with the test extras (and Chromium for the browser tests), then run the suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ferkit-installed

.PHONY: setup demo test lint bench-train default-model default-model-resume ferplus-model clean chromium

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (ferkit needs Python 3.11)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[demo,detect,serve,plots,video,train,export,tune,distributed,cluster,test]"
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
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

bench-train: setup
	$(BIN)/python bench/train_throughput.py

# Retrain the shipped default model from scratch on FER-2013, stage by stage (docs/model-card.md, "Recipe").
# To ship the result: copy its fervgg.keras to src/ferkit/weights/ and run `$(BIN)/python tools/ship_model.py
# default`, which exports the ONNX file the package runs (parity-checked) and writes both checksums.
# About 4.9 h on 2 cores; run it again after an interruption: finished stages are loaded, the interrupted one
# resumes from its last finished epoch.
FER2013 ?= ../shared/datasets/fer2013/fer2013.npz
default-model: setup
	$(BIN)/ferkit train --config configs/fervgg.yaml --data $(FER2013) --out runs/fervgg
	$(BIN)/ferkit train --config configs/fervgg-distill.yaml --data $(FER2013) --out runs/fervgg-distill
	$(BIN)/ferkit train --config configs/fervgg-cycle3.yaml --data $(FER2013) --out runs/fervgg-cycle3
	$(BIN)/ferkit train --config configs/fervgg-finetune.yaml --data $(FER2013) --out runs/fervgg-finetune
	$(BIN)/ferkit train --config configs/fervgg-cycle4.yaml --data $(FER2013) --out runs/fervgg-cycle4
	$(BIN)/ferkit train --config configs/fervgg-cycle4-finetune.yaml --data $(FER2013) --out runs/fervgg-cycle4-finetune
	$(BIN)/ferkit train --config configs/fervgg-stage1-finetune.yaml --data $(FER2013) --out runs/fervgg-stage1-finetune
	$(BIN)/ferkit train --config configs/fervgg-ensemble-cycle.yaml --data $(FER2013) --out runs/fervgg-ensemble-cycle
	$(BIN)/ferkit train --config configs/fervgg-ensemble-distill.yaml --data $(FER2013) --out runs/fervgg-ensemble-distill
	$(BIN)/ferkit calibrate --model runs/fervgg-ensemble-distill/model.keras --data $(FER2013) --split PublicTest --objective auto \
	  --out runs/fervgg-ensemble-distill/fervgg.keras

# The same recipe from the committed outputs of its three longest stages (checkpoints/, ≈ 3.7 h of training):
# they are restored into runs/ where missing, so only stages 4-9 train (≈ 80 min). tools/recipe_checkpoints.py
# saves a finished stage there, so a recipe split over several sessions resumes from the repository.
default-model-resume: setup
	$(BIN)/python tools/recipe_checkpoints.py restore
	$(MAKE) default-model

# The eight-class FER+ model (docs/model-card-ferplus.md): the shipped model fine-tuned on the FER+ votes,
# a clean stage, the temperature fitted on PublicTest. Re-running resumes an interrupted stage.
ferplus-model: setup
	$(BIN)/ferkit train --config configs/fervgg-ferplus.yaml --data $(FER2013) --out runs/fervgg-ferplus
	$(BIN)/ferkit train --config configs/fervgg-ferplus-finetune.yaml --data $(FER2013) --out runs/fervgg-ferplus-finetune
	$(BIN)/ferkit calibrate --model runs/fervgg-ferplus-finetune/model.keras --data $(FER2013) --split PublicTest \
	  --labels ferplus --objective auto --out runs/fervgg-ferplus-finetune/ferplus.keras
	@echo "to ship it: cp runs/fervgg-ferplus-finetune/ferplus.keras src/ferkit/weights/ && $(BIN)/python tools/ship_model.py ferplus --data $(FER2013)"

clean:
	rm -rf $(VENV) runs test-artifacts .pytest_cache
