#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each for a bounded
# time (FUZZ_SECONDS each, default 60; FUZZ_TARGETS to choose some) from the seed corpus in fuzz/corpus/. A crash
# leaves its input in build-fuzz/artifacts/; copy it to fuzz/regressions/<target>/ so that
# tests/test_fuzz_regressions.cpp replays it.
set -euo pipefail
seconds=${FUZZ_SECONDS:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCARTPK_FUZZ=ON \
  -DCARTPK_BUILD_TESTS=OFF -DCARTPK_BUILD_BENCH=OFF -DPython3_EXECUTABLE=/usr/bin/python3 > build-fuzz.configure.log
cmake --build build-fuzz -j 2 --target fuzz_dataset fuzz_prior fuzz_analysis
mkdir -p build-fuzz/artifacts
for target in ${FUZZ_TARGETS:-dataset prior analysis}; do
  corpus=build-fuzz/corpus/$target
  mkdir -p "$corpus"
  cp -n fuzz/corpus/$target/* "$corpus"/ 2>/dev/null || true
  [ -d fuzz/regressions/$target ] && cp -n fuzz/regressions/$target/* "$corpus"/ 2>/dev/null || true
  echo "== fuzz_$target for ${seconds}s =="
  build-fuzz/fuzz/fuzz_$target "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -artifact_prefix=build-fuzz/artifacts/$target- -print_final_stats=1 2>&1 | grep -E "stat::number_of_executed_units|Done [0-9]+ runs|ERROR|SUMMARY" || true
done
if ls build-fuzz/artifacts/* > /dev/null 2>&1; then
  echo "fuzz: crashes found in build-fuzz/artifacts/"
  exit 1
fi
echo "fuzz: no crashes"
