#!/usr/bin/env bash
# The main job's end-to-end check (issue 5), called from .ci/run:
# builds examples/pipeline/, runs it small with --health-json and an --out
# under the target directory, checks conservation from the JSON with jq, and
# validates every line of the JSON Lines file with jq. Also checks that a
# starved consumer (slow exporter, tiny ring) still conserves every event,
# that a bad flag or a missing --out directory exits 2 with one line naming
# it, and that an exporter losing events (--out /dev/full) exits 1.
#
# Environment: PIPELINE_PROFILE (cargo profile, default dev: reuses the test
# build), PIPELINE_ROWS (default 5000).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PIPELINE_PROFILE:-dev}
rows=${PIPELINE_ROWS:-5000}

if ! command -v jq >/dev/null 2>&1; then
  echo "jq missing: installing it with apt-get"
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq jq >/dev/null
fi

cargo build --quiet --example pipeline --profile "$profile"
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
case "$profile" in
  dev) profile_dir=debug ;;
  *) profile_dir=$profile ;;
esac
bin="$target_dir/$profile_dir/examples/pipeline"
work="$target_dir/ringtel-pipeline-check"
rm -rf "$work"
mkdir -p "$work"

fail() {
  echo "check-pipeline-example: FAIL: $*" >&2
  exit 1
}

# Runs the example with --health-json; stdout to $1.json, stderr to $1.stderr.
run_example() {
  local name=$1
  shift
  if ! "$bin" --health-json --out "$work/$name.jsonl" "$@" >"$work/$name.json" 2>"$work/$name.stderr"; then
    cat "$work/$name.stderr" >&2
    fail "$name: the example exited non-zero"
  fi
  [ "$(wc -l <"$work/$name.json")" -eq 1 ] || fail "$name: stdout is not exactly one line"
}

# Conservation, from the final Health alone.
check_health() {
  local name=$1
  jq -e '
    (.offered == .filtered + .delivered + .dropped_total)
    and (([.dropped[]] | add) == .dropped_total)
    and .in_flight == 0 and .queue_len == 0 and .offered > 0
    and .consumer.state == "stopped"
  ' "$work/$name.json" >/dev/null || fail "$name: conservation does not hold: $(cat "$work/$name.json")"
  jq -r '"\(input_filename | split("/") | last): offered \(.offered) = filtered \(.filtered) + delivered \(.delivered) + dropped \(.dropped_total)"' "$work/$name.json"
}

# Every line of the JSON Lines file is one JSON object with ts, run and
# event, and there is one line per delivered event.
check_jsonl() {
  local name=$1 file="$work/$1.jsonl"
  jq -e . "$file" >/dev/null || fail "$name: jq rejects $file"
  jq -R -s -e '
    split("\n") | .[:-1]
    | map(fromjson | type == "object" and has("ts") and has("run") and has("event"))
    | all
  ' "$file" >/dev/null || fail "$name: a line of $file is not one event object"
  local lines delivered
  lines=$(wc -l <"$file")
  delivered=$(jq .delivered "$work/$name.json")
  [ "$lines" -eq "$delivered" ] || fail "$name: $lines lines but $delivered delivered"
  echo "$name.jsonl: $lines valid lines"
}

run_example small --rows "$rows" --threads 2 --progress-every-rows 500
check_health small
check_jsonl small
[ "$(jq '[.dropped[]] | add' "$work/small.json")" -eq 0 ] || fail "small: unexpected drops"
[ "$(jq -s '[.[] | select(.event == "row_created")] | length' "$work/small.jsonl")" -eq "$rows" ] ||
  fail "small: not one row_created per row"

run_example starved --rows "$rows" --capacity 128 --backpressure drop --slow-exporter-ms 2 --granularity full
check_health starved
check_jsonl starved

set +e
"$bin" --backpressure sideways --out "$work/bad.jsonl" >"$work/bad.out" 2>"$work/bad.stderr"
status=$?
set -e
[ "$status" -eq 2 ] || fail "a bad flag exited $status, not 2"
[ "$(wc -l <"$work/bad.stderr")" -eq 1 ] && grep -q -- "--backpressure" "$work/bad.stderr" ||
  fail "a bad flag did not give one line naming it: $(cat "$work/bad.stderr")"
[ ! -s "$work/bad.out" ] || fail "a bad flag printed to stdout"

set +e
"$bin" --out "$work/missing/x.jsonl" --rows 10 >"$work/missing.out" 2>"$work/missing.stderr"
status=$?
set -e
[ "$status" -eq 2 ] || fail "a missing --out directory exited $status, not 2"
[ "$(wc -l <"$work/missing.stderr")" -eq 1 ] && grep -q -- "does not exist" "$work/missing.stderr" ||
  fail "a missing --out directory did not give one line naming it: $(cat "$work/missing.stderr")"
[ ! -e "$work/missing" ] || fail "--out created the missing directory"

if [ -w /dev/full ]; then
  set +e
  "$bin" --out /dev/full --rows 200 --threads 2 >"$work/full.out" 2>"$work/full.stderr"
  status=$?
  set -e
  [ "$status" -eq 1 ] || fail "--out /dev/full exited $status, not 1 (the JSON Lines exporter lost every event)"
  grep -q "json_lines lost events" "$work/full.stderr" || fail "--out /dev/full: the table does not say who lost events"
fi

echo "check-pipeline-example: ok"
