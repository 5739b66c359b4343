#!/usr/bin/env bash
# Instructions per operation of ringtel's emit paths against a raw
# `ArrayQueue` in a user's crate (issue 22), for the user's default release
# profile and for LTO + one codegen unit, for events of 16, 40 and 64 bytes.
#
#   bash benches/user-crate/callgrind.sh            # 100 000 operations
#   N=1000000 PROFILES=release bash benches/user-crate/callgrind.sh
#
# Each scenario runs in its own process under
# `valgrind --tool=callgrind --separate-threads=yes --toggle-collect=<loop>`:
# only the measuring thread's instructions inside the scenario's loop
# function count. Per operation: (Ir(scenario) - Ir(bare loop)) / N.
set -euo pipefail
cd "$(dirname "$0")"
N="${N:-100000}"
PROFILES="${PROFILES:-release release-lto}"
SIZES="${SIZES:-16 40 64}"
out="target/callgrind"
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 1; }

# Ir of the main thread's profile (the file ending -01).
ir() {
  local file="$1-01"
  awk '/^(totals|summary):/ { print $2; exit }' "$file"
}

run() { # profile scenario size function
  local bin="target/$1/ringtel-user-crate" file="$out/$1-$2-$3.out"
  rm -f "$file"-*
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$file" \
    --toggle-collect="$4" "$bin" "$2" "$3" "$N" >/dev/null 2>&1 \
    || { echo "callgrind run failed: $*" >&2; exit 1; }
  ir "$file"
}

per_op() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.2f", (a - b) / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

printf '%s operations per scenario; %s\n' "$N" "$(valgrind --version)"
for profile in $PROFILES; do
  CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" cargo build -q --profile "$profile"
  base=$(run "$profile" baseline 0 uc_baseline)
  printf '\nprofile %s (bare loop %s instr/iteration)\n' "$profile" "$(per_op "$base" 0)"
  printf '%-5s %9s %9s %7s %9s %9s %7s %9s\n' size raw_push emit ratio raw_fail emit_drop ratio filtered
  for size in $SIZES; do
    raw_room=$(per_op "$(run "$profile" raw_room "$size" "uc_raw_push_$size")" "$base")
    raw_full=$(per_op "$(run "$profile" raw_full "$size" "uc_raw_push_$size")" "$base")
    room=$(per_op "$(run "$profile" emit_room "$size" "uc_emit_$size")" "$base")
    drop=$(per_op "$(run "$profile" emit_drop "$size" "uc_emit_$size")" "$base")
    filtered=$(per_op "$(run "$profile" emit_filtered "$size" "uc_emit_$size")" "$base")
    printf '%-5s %9s %9s %7s %9s %9s %7s %9s\n' "$size" "$raw_room" "$room" "$(ratio "$room" "$raw_room")" \
      "$raw_full" "$drop" "$(ratio "$drop" "$raw_full")" "$filtered"
  done
done
printf '\ntargets: emit <= 1.2x raw push; drop <= 0.5x failing raw push; filtered <= 15\n'
printf 'profiles: %s/ (callgrind_annotate <file>-01)\n' "$out"
