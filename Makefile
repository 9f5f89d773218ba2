# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export NO_PROXY := 127.0.0.1,localhost
export no_proxy := 127.0.0.1,localhost

.PHONY: demo test venv bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build first: an unpinned torch would make pip fetch a multi-GB CUDA build.
	@if command -v nvidia-smi >/dev/null 2>&1; then echo "GPU found: letting pip pick torch"; \
	else $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/ftbot demo --home .ftbot-demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/qa_latency.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/slack_ack.py

clean:
	rm -rf $(VENV) .ftbot .ftbot-demo
