# One entry point for a fresh machine. `make demo` and `make test` each set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup lint bench clean

demo: setup
	$(BIN)/edgenas search

test: setup
	$(BIN)/ruff check edgenas tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

setup: $(STAMP)

# espeak-ng synthesises the default keyword-spotting data offline (Debian package); flite, festival and
# three festvox voices add voices made from real speakers to it, and the voices extra Kokoro's neural
# voices (better transfer to real speech);
# dataset-fashion-mnist is the vision task's data (IDX files under /usr/share/datasets/fashion-mnist);
# chromium + chromium-driver run the dashboard's browser tests (headless, through selenium);
# gcc-arm-none-eabi + qemu-system-arm build the firmware's C front end for a Cortex-M7 and run it (mps2-an500).
# gcc-aarch64-linux-gnu links `edgenas compile`'s TVM libraries for a Raspberry Pi 4 (cross build, not run here);
# the tvm extra goes in a pip command of its own (see pyproject.toml).
# torch==2.13.0 first: it resolves to the CPU build on disk; a bare `torch` pulls CUDA.
$(STAMP): pyproject.toml Makefile
	@command -v espeak-ng >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq espeak-ng; fi; }
	@command -v flite >/dev/null && command -v festival >/dev/null && test -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts; fi; }
	@command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm; fi; }
	@command -v aarch64-linux-gnu-gcc >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu; fi; }
	@command -v chromedriver >/dev/null && command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver; fi; }
	@test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist; fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,tflite,ray,agent,track,dashboard,voices]'
	$(BIN)/pip install -q 'apache-tvm[popen-pool]==0.27.0.post1' 'apache-tvm-ffi==0.1.14.post1' 'xgboost-cpu>=3'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check edgenas tests benchmarks
	$(BIN)/ruff format --check edgenas tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/cost_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
