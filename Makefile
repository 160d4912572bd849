# One command sets everything up and runs the demo (`make demo`), one sets everything up and runs
# every test (`make test`). Both create .venv with uv, which is bootstrapped into .tools/ when it
# is not on PATH.

PYTHON ?= python3
VENV   ?= .venv
UV_VERSION := 0.13.10
UV     ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Every install comes from the committed lock (uv.lock): `uv sync --locked` installs exactly the locked
# versions, checked against their hashes, with every workspace member in editable mode, all of their
# extras and the `dev` group of pyproject.toml; it refuses to run when uv.lock no longer matches the
# pyprojects (then run `make lock`). It also removes what the lock does not list, so .venv is exactly
# what was tested.
SYNC := $(UV) sync --locked --all-packages --all-extras --group dev --python $(PYTHON)
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compile bytecode at install time: where PYTHONDONTWRITEBYTECODE is set, every process (each test
# worker, each CLI call) would otherwise compile torch, transformers and torch-geometric from source.
export UV_COMPILE_BYTECODE := 1
PYPROJECTS := pyproject.toml uv.lock $(wildcard core/pyproject.toml plugins/*/pyproject.toml examples/*/pyproject.toml)

.PHONY: env demo test lint docs wheels lock clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(STAMP): $(PYPROJECTS) | $(UV)
	$(SYNC) --quiet
	touch $(STAMP)

# Update the lock to the newest releases the pyprojects allow, then reinstall from it. Commit uv.lock
# when `make test` passes on it.
lock: | $(UV)
	$(UV) lock --upgrade
	$(SYNC) --quiet
	touch $(STAMP)

env: $(STAMP)

demo: env
	$(PY) examples/demo.py
	$(VENV)/bin/mixup compare examples/configs/fashion-mnist-noisy-labels.yaml

# ruff, the import contract of mixup-core, and mypy on the public packages ([tool.mypy] in pyproject.toml)
lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

docs: env
	$(VENV)/bin/mkdocs build --strict --quiet

test: env lint
	$(PY) -m pytest -n 2 --dist loadgroup

wheels: env
	rm -rf dist
	for pkg in core plugins/image plugins/audio plugins/text plugins/graph plugins/tabular plugins/lab; do \
		$(PY) -m build --wheel --no-isolation --outdir dist $$pkg >/dev/null || exit 1; \
	done
	ls dist

clean:
	rm -rf $(VENV) .tools dist site
