# The two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.textgym-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint install clean bench bench-peer

$(STAMP): pyproject.toml Makefile
	# Optional system piece for the Python sandbox's seccomp filter; best effort, the
	# sandbox warns loudly where it is missing.
	@ldconfig -p 2>/dev/null | grep -q libseccomp.so.2 || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		  apt-get install -y -qq libseccomp2 >/dev/null 2>&1; } || \
		echo "note: libseccomp2 not installed; the Python sandbox runs without seccomp"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# Pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	# peft (LoRA), accelerate (multi-process PPO), serving (the openai: agent, and
	# `transformers serve` as a real endpoint), trl, openenv, reasoning-gym and detox are
	# optional extras; the tests use them all (html: the leaderboard page's plotly.js; the
	# browser extra and chromium are left out: the page's browser test skips without them).
	$(PY) -m pip install --quiet -e ".[dev,peft,accelerate,serving,trl,openenv,reasoning-gym,detox,html]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/textgym demo

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q

# Benchmarks: not part of `make test`. Figures go to benchmarks/results/.
bench: $(STAMP)
	$(PY) benchmarks/perf.py

# TRL's classic TextEnvironment + PPOTrainer side by side, in a venv of its own.
PEER_VENV ?= .venv-peer
PEER_STAMP := $(PEER_VENV)/.peer-installed
$(PEER_STAMP):
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEER_VENV)/bin/python -m pip install --quiet torch==2.13.0
	# rich: an undeclared dependency of trl 0.11.4's TextEnvironment.
	$(PEER_VENV)/bin/python -m pip install --quiet trl==0.11.4 transformers==4.46.3 rich
	touch $(PEER_STAMP)

bench-peer: $(STAMP) $(PEER_STAMP)
	$(PY) benchmarks/peer_trl/compare.py --peer-python $(PEER_VENV)/bin/python

clean:
	rm -rf $(VENV) $(PEER_VENV) build dist *.egg-info
