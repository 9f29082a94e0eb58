# dqmlir: everything is installed into .venv from requirements.txt (pinned),
# then built with CMake + Ninja. `make check` runs all tests, `make demo` the
# main job. A second run with nothing changed takes seconds.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
BUILD   := build
STAMP   := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)

.PHONY: all venv build check demo bench bench-quick bench-cold bench-venv profile fuzz fuzz-frontend clean

all: build

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

$(BUILD)/build.ninja: $(STAMP)
	$(PY) tools/configure.py $(BUILD)

build: $(BUILD)/build.ninja
	$(VENV)/bin/ninja -C $(BUILD)

# pytest runs one worker per core (pytest-xdist), each test file on one
# worker so that a file's compiled models (module fixtures) are built once.
TEST_JOBS ?= $(shell nproc)

check: build
	$(VENV)/bin/ninja -C $(BUILD) check-dqmlir
	$(PY) -m pytest -q test/python -n $(TEST_JOBS) --dist loadfile

demo: build
	$(PY) examples/demo.py

# Benchmarks: per-linear and end-to-end vs PyTorch (fbgemm), fp32, ONNX
# Runtime, OpenVINO (+ NNCF) and torch.compile, and deployment costs; writes
# benchmarks/results/latest.{json,md,png}. Never a CI gate. The peers only the
# benchmarks need come from benchmarks/requirements.txt, kept out of `make check`.
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cksum < benchmarks/requirements.txt | cut -d' ' -f1)

$(BENCH_STAMP): benchmarks/requirements.txt $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -r benchmarks/requirements.txt
	rm -f $(VENV)/.bench-installed-*; touch $@

bench-venv: $(BENCH_STAMP)

bench: build bench-venv
	$(PY) benchmarks/bench.py

bench-quick: build bench-venv
	$(PY) benchmarks/bench.py --quick

# Where a call's time goes by op kind: make profile MODEL=BERT-base (or
# all-MiniLM-L6-v2, GPT-2, Whisper, ...; ARGS="--batch 8 --threads 2").
MODEL ?= BERT-base
profile: build
	$(PY) benchmarks/op_profile.py "$(MODEL)" $(ARGS)

# How much a call slows down after the core ran something else for a while
# (why interleaved medians exceed hot-loop timings here).
bench-cold: build
	$(PY) benchmarks/cold.py

# Long fuzz run of dq-opt over the mutated lit corpus (make check runs 300 inputs).
FUZZ_COUNT ?= 10000
FUZZ_SEED  ?= 1

fuzz: build
	$(PY) test/fuzz/fuzz_dq_opt.py --dq-opt $(BUILD)/bin/dq-opt --seed $(FUZZ_SEED) \
	  --count $(FUZZ_COUNT) --crash-dir $(BUILD)/fuzz-crashes --json $(BUILD)/fuzz-summary.json

# Long run of the frontend fuzzer: random torch modules compiled with
# dqmlir.compile and called with good and bad inputs, against PyTorch
# (make check runs a 50-module slice).
FUZZ_FRONTEND_COUNT ?= 2000
FUZZ_FRONTEND_SEED  ?= 1
FUZZ_FRONTEND_JOBS  ?= 2

fuzz-frontend: build
	$(PY) test/fuzz/fuzz_frontend.py --seed $(FUZZ_FRONTEND_SEED) --count $(FUZZ_FRONTEND_COUNT) \
	  --jobs $(FUZZ_FRONTEND_JOBS) --crash-dir $(BUILD)/fuzz-frontend \
	  --json $(BUILD)/fuzz-frontend-summary.json --records $(BUILD)/fuzz-frontend-records.jsonl -q

clean:
	rm -rf $(BUILD)
