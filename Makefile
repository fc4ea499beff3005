# The two commands: `make demo` and `make test`. Both install what is missing, then build Release in build/.
BUILD_DIR ?= build
JOBS ?= 2
PYTHON ?= /usr/bin/python3
MAKEFLAGS += --no-print-directory

.PHONY: deps test-deps configure build demo figures test unit-test sanitize-test bench fuzz clean

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=$(PYTHON) > $(BUILD_DIR).configure.log 2>&1 \
	  || (cat $(BUILD_DIR).configure.log; exit 1)

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD_DIR)

# Every notebook rendered on the demo's outputs to PNGs under $(BUILD_DIR)/figures/.
figures: demo
	@$(PYTHON) scripts/figures.py $(BUILD_DIR)

test: unit-test sanitize-test

test-deps:
	@scripts/install-deps.sh test

unit-test: build test-deps
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The suite again, built with AddressSanitizer + UndefinedBehaviorSanitizer (any finding fails the run).
sanitize-test: deps test-deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DCARTPK_SANITIZE=ON \
	  -DCARTPK_BUILD_BENCH=OFF -DCARTPK_MPI=OFF -DPython3_EXECUTABLE=$(PYTHON) > build-asan.configure.log 2>&1 || (cat build-asan.configure.log; exit 1)
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

fuzz: deps
	@scripts/fuzz.sh

bench: build
	@$(PYTHON) bench/run_bench.py --build $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log build-asan build-asan.configure.log build-fuzz build-fuzz.configure.log
