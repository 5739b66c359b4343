#!/usr/bin/env bash
# The CI fuzz step: run every fuzz target for FUZZ_SECONDS (default 60) each,
# starting from its committed corpus, when a nightly toolchain and cargo-fuzz
# are available; otherwise say the step is skipped and why, and succeed.
#
# Usage (from anywhere): bash fuzz/run-ci.sh
# Environment: FUZZ_SECONDS (default 60), FUZZ_TOOLCHAIN (default nightly).
#
# A crash fails the step; its input is left in fuzz/artifacts/<target>/ and
# the log shows the harness's message. Inputs found during the run go to a
# scratch copy of the corpus, so the committed corpus stays as reviewed.
#
# The corpus itself is replayed on stable in every `cargo test --workspace`
# (tests/fuzz_corpus.rs); this step only searches for new inputs.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
targets=(ops config encode)

skip() {
    echo "fuzz: SKIPPED: $*"
    exit 0
}

if ! command -v rustup >/dev/null 2>&1; then
    skip "rustup is not installed, so no nightly toolchain can be selected"
fi
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    skip "no '$toolchain' toolchain (cargo fuzz needs nightly for -Zsanitizer; install one with 'rustup toolchain install nightly')"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz is missing; installing it with 'cargo install --locked cargo-fuzz'"
    if ! cargo install --locked cargo-fuzz; then
        skip "cargo-fuzz could not be installed"
    fi
fi
echo "fuzz: $(cargo fuzz --version), $(rustup run "$toolchain" rustc --version)"

# No leak checks: an input can return while ringtel's exporter worker
# threads are still finishing; LeakSanitizer would count what they hold.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

status=0
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target" "fuzz/corpus/$target"
    echo "fuzz: running '$target' for ${seconds}s"
    # -timeout=60: the harnesses' own deadlines are 10 s; a minute means a hang.
    # New inputs go to the first directory (scratch); the second is read only.
    if ! cargo "+$toolchain" fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -detect_leaks=0 -timeout=60 -rss_limit_mb=4096 -print_final_stats=1; then
        echo "fuzz: '$target' FAILED; the input is in fuzz/artifacts/$target/"
        status=1
    fi
done
exit "$status"
