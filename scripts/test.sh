#!/usr/bin/env bash
# Build coffer and run every test: unit and end-to-end tests on a hardened -Werror
# build, the same tests on an ASan+UBSan build, then each fuzzer for FUZZ_SECONDS
# (default 60). Prints "N passed, M failed" last.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
JOBS=${JOBS:-2}
scripts/deps.sh test || { echo "cannot install dependencies"; exit 1; }

passed=0; failed=0; failures=()
step() { # name, command...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed+1)); else failed=$((failed+1)); failures+=("$name"); fi
}

build() { # dir, cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null &&
    cmake --build "$dir" -j "$JOBS" 2>&1 | grep -E "error|warning|Error" ; return "${PIPESTATUS[0]}"
}

step "build (hardened, -Werror)" build build -DCOF_TESTS=ON
step "unit + e2e tests" bash -c "cd build && ctest --output-on-failure -j $JOBS"
step "build (ASan+UBSan)" build build-asan -DCOF_SANITIZE=ON -DCOF_TESTS=ON
step "unit + e2e tests under ASan+UBSan" bash -c \
  "cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j $JOBS"
step "build fuzzers (clang, libFuzzer)" env CC=clang bash -c "$(declare -f build); build build-fuzz -DCOF_FUZZ=ON -DCOF_SANITIZE=ON -DCOF_TESTS=OFF"

fuzz_one() { # name
  local f=$1 corpus
  corpus=$(mktemp -d)
  [ -d "fuzz/corpus/${f#fuzz_}" ] && cp -r "fuzz/corpus/${f#fuzz_}/." "$corpus/"
  if ! build-fuzz/"$f" -max_total_time="$FUZZ_SECONDS" -max_len=16384 -timeout=10 \
       -rss_limit_mb=2048 -print_final_stats=0 -artifact_prefix=build-fuzz/$f- "$corpus" >"build-fuzz/$f.log" 2>&1; then
    tail -40 "build-fuzz/$f.log"; rm -rf "$corpus"; return 1
  fi
  grep -E "^#[0-9]+ *DONE" "build-fuzz/$f.log" | tail -1
  rm -rf "$corpus"
}
fuzzers=$(ls build-fuzz/fuzz_* 2>/dev/null | grep -v '\.log$' | xargs -n1 basename 2>/dev/null)
# Two fuzzers at a time (two cores).
set -- $fuzzers
while [ $# -gt 0 ]; do
  a=$1; shift; b=${1:-}; [ -n "$b" ] && shift
  ( fuzz_one "$a" ) & pa=$!
  if [ -n "$b" ]; then ( fuzz_one "$b" ) & pb=$!; fi
  if wait $pa; then passed=$((passed+1)); echo "=== fuzz $a ${FUZZ_SECONDS}s: ok"; else failed=$((failed+1)); failures+=("fuzz $a"); fi
  if [ -n "$b" ]; then
    if wait $pb; then passed=$((passed+1)); echo "=== fuzz $b ${FUZZ_SECONDS}s: ok"; else failed=$((failed+1)); failures+=("fuzz $b"); fi
  fi
done

step "no banned calls in src/" bash -c "! grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|sscanf)\s*\(' src"

echo
[ ${#failures[@]} -gt 0 ] && printf 'FAILED: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
