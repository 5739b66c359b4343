#!/usr/bin/env bash
# Runs the loom proof suite: every correct model once, then every broken twin,
# failing unless each twin is caught. See loom-tests/README.md.
#
#   bash loom-tests/run.sh              # everything (CI)
#   bash loom-tests/run.sh correct      # only the correct models
#   bash loom-tests/run.sh twins        # only the broken twins
#   bash loom-tests/run.sh twin <name>  # one twin
#
# Twins are selected with RINGTEL_BROKEN=<name>, which ringtel's build.rs
# (and loom-tests' own) turn into `--cfg ringtel_broken="<name>"`. That is
# the same cfg as RUSTFLAGS="--cfg loom --cfg ringtel_broken=\"<name>\"",
# but changing it rebuilds only ringtel and the one test binary instead of
# every dependency; with incremental compilation (twin builds only) that is
# about 4 s of CPU per twin instead of about 45 s of wall time on 2 cores.
set -euo pipefail

cd "$(dirname "$0")/.."

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export RUSTFLAGS="--cfg loom"
# A twin build must never leak into the correct run.
unset RINGTEL_BROKEN

# The twins, from the one list (twins.txt): "name|file|test" per entry.
TWINS=()
while read -r name file test rest; do
  [[ -z $name || $name == \#* ]] && continue
  if [[ -z $test || -n $rest ]]; then
    echo "loom-tests/twins.txt: malformed line: $name $file $test $rest"; exit 2
  fi
  TWINS+=("$name|$file|$test")
done <loom-tests/twins.txt

# Every twin test in tests/ must be listed, or CI would never run it.
for test in $(grep -ho 'fn twin_[a-z0-9_]*' loom-tests/tests/*.rs | sed 's/^fn //' | sort -u); do
  if ! printf '%s\n' "${TWINS[@]}" | grep -q "|$test\$"; then
    echo "loom-tests: $test is a twin test not listed in loom-tests/twins.txt"; exit 2
  fi
done

now() { date +%s; }

run_correct() {
  echo "=== correct models (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
  local t0
  t0=$(now)
  CARGO_TARGET_DIR=target/loom cargo test -p loom-tests --release
  echo "=== correct models passed in $(($(now) - t0)) s"
}

run_twin() {
  local name=$1 file=$2 test=$3 t0 out
  echo "=== broken twin: $name (tests/$file.rs, $test)"
  t0=$(now)
  if ! out=$(RINGTEL_BROKEN="$name" CARGO_TARGET_DIR=target/loom-broken CARGO_INCREMENTAL=1 \
      cargo test -p loom-tests --release --test "$file" -- --exact "$test" --nocapture 2>&1); then
    echo "$out" | tail -n 40
    echo "=== FAILED: broken twin $name was NOT caught (or did not build)"
    return 1
  fi
  # Guard against a filter that matched nothing (a renamed test would pass vacuously).
  if ! grep -q "test result: ok. 1 passed" <<<"$out"; then
    echo "$out" | tail -n 20
    echo "=== FAILED: twin test $test did not run exactly once"
    return 1
  fi
  grep -m1 "loom caught broken twin" <<<"$out" || true
  echo "=== caught $name in $(($(now) - t0)) s (build included)"
}

run_twins() {
  local entry name file test failed=0
  for entry in "${TWINS[@]}"; do
    IFS='|' read -r name file test <<<"$entry"
    run_twin "$name" "$file" "$test" || failed=1
  done
  return "$failed"
}

start=$(now)
case "${1:-all}" in
  all) run_correct; run_twins ;;
  correct) run_correct ;;
  twins) run_twins ;;
  twin)
    for entry in "${TWINS[@]}"; do
      IFS='|' read -r name file test <<<"$entry"
      if [[ $name == "${2:?twin name}" ]]; then run_twin "$name" "$file" "$test"; exit; fi
    done
    echo "unknown twin ${2}"; exit 2 ;;
  *) echo "usage: $0 [all|correct|twins|twin <name>]"; exit 2 ;;
esac
echo "=== loom suite finished in $(($(now) - start)) s"
