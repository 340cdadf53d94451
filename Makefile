# varstore: a thin Makefile over CMake.
#   make test   installs what is missing (Debian packages, the Python venv),
#               builds, and runs every C and Python test;
#   make demo   installs what is missing, builds, runs the main example;
#   make        builds (only checks for dependencies, installs nothing);
#   make install  installs the build (PREFIX, default /usr/local);
#   make stress   kill -9 and fault-injection runs at full length;
#   make bench-scale  varstore against torch and safetensors at 5 MB to
#                 2 GB (bench/README.md; BENCH_SCALE_ARGS=--quick);
#   make bench-ab BASE=REV  the CLI job by REV's CLI and this tree's.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX     ?= /usr/local
CMAKE_ARGS ?=
# The project's Python environment (scripts/venv.sh) and the interpreter
# the Python tests run with.
VENV       ?= $(CURDIR)/.venv
PY_GROUPS  ?= test torch tf
VS_PYTHON  ?= $(VENV)/bin/python

.PHONY: all deps check-deps venv configure build test test-sanitize demo \
        bench bench-ab bench-scale stress install clean

all: build

deps:
	@sh scripts/deps.sh

check-deps:
	@sh scripts/deps.sh --check

# The venv is best effort: without it (no network, no python3) the Python
# tests say that they skip, and the C tests still run.
venv:
	@sh scripts/venv.sh $(PY_GROUPS) || \
	  echo "warning: the Python environment is incomplete; tests that need it will skip" >&2

configure:
	cmake -S . -B $(BUILD) -DVS_WERROR=ON -DVS_PYTHON=$(VS_PYTHON) $(CMAKE_ARGS)

build: check-deps configure
	cmake --build $(BUILD) -j $(JOBS)

test: deps venv configure
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-sanitize: deps venv
	cmake -S . -B $(ASAN_BUILD) -DVS_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
	  -DVS_SANITIZE=address,undefined -DVS_PYTHON=$(VS_PYTHON) $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

demo: deps configure
	cmake --build $(BUILD) -j $(JOBS)
	./$(BUILD)/examples/conv_demo

# Fault injection at full length: 400 kill -9s of CLI commands, and the
# I/O and allocation fault sweeps.
STRESS_KILLS ?= 400
stress: deps configure
	cmake --build $(BUILD) -j $(JOBS)
	bash tests/stress/kill_stress.sh $(CURDIR)/$(BUILD)/tools/varstore $(STRESS_KILLS)
	ctest --test-dir $(BUILD) --output-on-failure -L faults -E test_kill_stress

bench: deps venv configure
	cmake --build $(BUILD) -j $(JOBS)
	sh bench/run.sh

# The CLI job by revision BASE's CLI and this tree's, turn by turn
# (bench/ab.sh; BENCH_AB_RUNS, default 21).
bench-ab: deps venv
	BASE='$(BASE)' sh bench/ab.sh

# The scale bench builds its own Release tree (build-rel) and installs its
# peers into the venv (bench/scale/run.sh).
bench-scale: deps
	sh bench/scale/run.sh

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
