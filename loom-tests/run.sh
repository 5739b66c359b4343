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

# twin name | test file (tests/<file>.rs) | test function asserting it is caught
TWINS=(
  "drop_log_check_then_act|drop_log|twin_drop_log_check_then_act_is_caught"
  "drop_publish_unclaimed|drop_log|twin_drop_publish_unclaimed_is_caught"
  "close_skip_residual|close|twin_close_skip_residual_is_caught"
  "ledger_double_resolve|close|twin_ledger_double_resolve_is_caught"
  "ledger_double_resolve|close|twin_ledger_double_resolve_is_caught_end_to_end"
  "flush_relaxed_request|flush|twin_flush_relaxed_request_is_caught"
  "flush_target_after_drain|flush|twin_flush_target_after_drain_is_caught"
  "flush_notify_one|flush|twin_flush_notify_one_is_caught"
  "doorbell_check_then_ring|flush|twin_doorbell_check_then_ring_is_caught"
  "worker_check_then_hand|flush|twin_worker_check_then_hand_is_caught"
  "block_register_late|block|twin_block_register_late_is_caught"
  "block_register_late|block|twin_block_register_late_is_caught_end_to_end"
  "close_no_wake|block|twin_close_no_wake_is_caught"
  "drop_oldest_uncounted|drop_oldest|twin_drop_oldest_uncounted_is_caught"
  "death_no_wake|death|twin_death_no_wake_is_caught"
  "control_torn|reconfigure|twin_control_torn_is_caught"
  "control_torn|reconfigure|twin_control_torn_lost_update_is_caught"
  "remove_before_drain|reconfigure|twin_remove_before_drain_is_caught"
  "close_unsealed_commands|reconfigure|twin_close_unsealed_commands_is_caught"
  "start_no_handshake|start|twin_start_no_handshake_is_caught"
  "exporter_state_check_then_store|exporter_state|twin_exporter_state_check_then_store_is_caught"
  "exporter_state_since_after_phase|exporter_state|twin_exporter_state_since_after_phase_is_caught"
)

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
