# make demo   set up .venv and run cnndsl on ResNet-34
# make test   set up .venv and run the test suite (what CI runs)
# make fuzz   the long fuzzing profile (>= 100,000 inputs)
# make bench  the benchmarks; writes benchmarks/results.md

VENV ?= .venv
PY := $(VENV)/bin/python
CNNDSL := $(VENV)/bin/cnndsl

.PHONY: setup system-deps demo test fuzz bench lint clean

# torch is installed first and pinned: 2.13.0 resolves to the CPU build here, a bare `torch` to CUDA.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# node packages for tests/test_editors.py: the VS Code grammar runs in vscode-textmate, as in VS Code
# (the extension's own dependency, vscode-languageclient, is not needed to test it).
NODE_TEST := editors/vscode/test/node_modules/.installed
$(NODE_TEST): editors/vscode/test/package-lock.json
	npm ci --prefix editors/vscode/test --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed system-deps $(NODE_TEST)

# Graphviz's `dot` renders the diagrams; Debian's chromium and chromedriver run `cnndsl serve`'s page in
# tests/test_serve_browser.py. Debian's packages where we may install them.
system-deps:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
	  else echo "warning: Graphviz 'dot' is missing; install it (apt-get install graphviz) to render diagrams"; fi; }
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "warning: chromium is missing; install it (apt-get install chromium chromium-driver) to test cnndsl serve"; fi; }

demo: setup
	$(CNNDSL) check architectures/*.cnn
	$(CNNDSL) summary architectures/resnet34.cnn
	mkdir -p build
	$(CNNDSL) compile architectures/resnet34.cnn --backend torch -o build/resnet34_torch.py
	$(CNNDSL) compile architectures/resnet34.cnn --backend keras -o build/resnet34_keras.py
	$(CNNDSL) render architectures/resnet34.cnn -o build/resnet34.svg
	@echo "wrote build/resnet34_torch.py, build/resnet34_keras.py and build/resnet34.svg"

test: setup
	$(PY) -m pytest

# Two workers (pytest-xdist): each test is one Hypothesis run, and test_mutated_architectures alone is about
# half of the work, so more would not help. --dist loadgroup deals the tests out in turn, so that the two
# longest, the file's first two, start on different workers (load and worksteal start them on the same one).
# Statistics: examples and time per test.
fuzz: setup
	CNNDSL_FUZZ=long $(PY) -m pytest tests/test_fuzz.py -q -n 2 --dist loadgroup --hypothesis-show-statistics

bench: setup
	$(PY) benchmarks/run.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info editors/vscode/test/node_modules
