# The README's commands: `make demo`, `make test`; the habits: `make lint`, `make test-fast`, `make docs`.
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.geocluster-installed
DOCS_STAMP := $(VENV)/.geocluster-docs-installed
OUT    ?= demo_output
# The JavaScript runtime of the maps (checked with `node --check` when node is on PATH).
JS     := $(wildcard geocluster/viz/static/*.js)

.PHONY: demo test test-fast lint lint-ruff lint-types lint-imports lint-js docs bench clean

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PYTHON) -m pip install --quiet -e ".[test,docs]"
	@touch $(DOCS_STAMP)

demo: $(STAMP)
	$(PYTHON) -m geocluster demo --out $(OUT) --force

test: $(STAMP)
	$(PYTHON) -m pytest

# The suite without the tests marked slow (tests/slow_tests.txt): under a minute on 2 cores.
test-fast: $(STAMP)
	$(PYTHON) -m pytest -q -m "not slow"

# Every check runs, and the target fails if any of them failed.
lint: $(STAMP)
	@status=0; \
	$(MAKE) --no-print-directory lint-ruff || status=1; \
	$(MAKE) --no-print-directory lint-types || status=1; \
	$(MAKE) --no-print-directory lint-imports || status=1; \
	$(MAKE) --no-print-directory lint-js || status=1; \
	exit $$status

lint-ruff: $(STAMP)
	$(PYTHON) -m ruff check geocluster tests benchmarks scripts

# mypy on the package; configuration in pyproject.toml [tool.mypy]
lint-types: $(STAMP)
	$(PYTHON) -m mypy

# The floors of docs/architecture.md; contracts in pyproject.toml [tool.importlinter]
lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache

lint-js:
	@if [ -z "$(JS)" ]; then echo "lint-js: no geocluster/viz/static/*.js, skipped"; \
	elif ! command -v node >/dev/null 2>&1; then echo "lint-js: node not on PATH, skipped"; \
	else for f in $(JS); do node --check "$$f" || exit 1; done; echo "node --check: $(words $(JS)) file(s) OK"; fi

# The site (API reference, user guide, notebooks unexecuted) into site/; warnings are errors.
# The guide's examples run first, as written.
docs: $(DOCS_STAMP)
	$(PYTHON) scripts/api_reference.py
	$(PYTHON) scripts/run_doc_examples.py
	@mkdir -p site && printf '*\n' > site/.gitignore  # site/ stays out of git (mkdocs keeps dot files)
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --site-dir site

bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PYTHON) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache site
