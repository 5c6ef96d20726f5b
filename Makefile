# Two entry points, each doing all set-up on a fresh clone (python3 + pip are all it needs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: verify test figures paper bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

verify: $(STAMP)
	$(BIN)/lth verify --scale quick

test: $(STAMP)
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/python -m pytest -q

figures: $(STAMP)
	$(BIN)/lth figures

# The PDF from the stored records in results/ (run `make verify` first; claims without a record are
# marked in the paper). Needs pandoc and TeX Live: without them it says what to install and fails.
paper: $(STAMP)
	$(BIN)/lth paper build

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
