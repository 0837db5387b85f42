# ao — developer tasks. `make install` once, then `make demo` or `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install dist test-deps test check lint typecheck bench demo demo-fix docs completions clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	-$(PY) -m pip uninstall -q -y ao 2>/dev/null  # the distribution's name before 0.2 (now ao-cli)
	$(PY) -m pip install -q -e '.[dev]'

# the sdist and the wheel, in dist/
dist: install
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .

# what the tests need besides the venv: system packages (zsh, fish, notify-send, dbus, tmux,
# git, npm: apt-get, when this user may without a password), GitHub's GraphQL schema and the
# agent CLIs (npm)
test-deps: install
	scripts/install-system-test-deps.sh
	PYTHON=$(PY) scripts/install-test-deps.sh
	PYTHON=$(PY) scripts/install-linear-schema.sh
	scripts/install-agents.sh
	PYTHON=python3 scripts/install-more-agents.sh

# the agent CLIs run one test at a time: each boots a real TUI against the fake model, and
# two at a time on 2 cores made a CLI's start race its first input now and then. Both
# runs always run; the last lines say which system tools were missing (their tests are
# SKIPPED in pytest's summary) and the command that gets them.
test: install test-deps
	scripts/start-test-services.sh
	status=0; \
	$(PY) -m pytest -n 2 -q -m "not agents" || status=$$?; \
	$(PY) -m pytest -q -m agents tests/agents || status=$$?; \
	scripts/install-system-test-deps.sh --check; \
	exit $$status

lint: install
	$(VENV)/bin/ruff check ao plugins tests bench
	$(VENV)/bin/ruff format --check ao plugins tests bench

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install
	$(PY) bench/run.py

# three real agent CLIs when npm can install them (Claude Code, Codex, Gemini CLI), else
# the shell agent
demo: install
	-scripts/install-agents.sh
	-scripts/install-more-agents.sh gemini
	$(PY) scripts/demo.py

# `ao fix`: a small red repo's three failing tests go green with three agents in parallel
# (Claude Code against ao's scripted model when npm can install it, else the shell agent)
demo-fix: install
	-scripts/install-agents.sh
	$(PY) scripts/demo_fix.py

completions: install
	for sh in bash zsh fish; do $(PY) -m ao completion $$sh > completions/ao.$$sh; done

docs: install
	$(PY) -m ao config schema > docs/config.schema.json
	$(MAKE) completions

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build
