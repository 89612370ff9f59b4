#!/usr/bin/env bash
# PySys and allocport's Rust processes on one port pool (docs/pysys.md): the Python package's
# unit tests, then PySys runs (`pysys run -j4`, 8 tests of two ports each) beside
# `allocport exec` holders on a small PYSYS_PORTS pool, checked from both sides, then a
# control run without the plugin that the same check must catch holding a port twice.
#
#   tests/pysys/run.sh                        # makes target/pysys-venv, builds target/debug/allocport
#   ALLOCPORT_PEER=python tests/pysys/run.sh  # `python -m allocport` as the peer instead
#
# Ends with `N passed, N failed`; exits 1 when anything failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${PYSYS_VENV:-$root/target/pysys-venv}
passed=0 failed=0
step() { printf '\n=== %s\n' "$*"; }
ok() { passed=$((passed + 1)); echo "PASSED: $*"; }
bad() { failed=$((failed + 1)); echo "FAILED: $*"; }
finish() { echo; echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit $?; }

step "a virtual environment with PySys 2.2 and ./python"
{ [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } \
    && "$venv/bin/pip" install -q --disable-pip-version-check "pysys==2.2" "$root/python" \
    || { bad "could not make the virtual environment $venv"; finish; }
py=$venv/bin/python
pysys=$venv/bin/pysys.py

if [ "${ALLOCPORT_PEER:-rust}" = python ]; then
    peer=("$py" -m allocport)
else
    step "cargo build -p allocport-cli"
    (cd "$root" && cargo build -q -p allocport-cli) || { bad "cargo build -p allocport-cli"; finish; }
    peer=("$root/target/debug/allocport")
    export ALLOCPORT_BIN="$root/target/debug/allocport"  # the unit tests' Rust peer
fi

work=$(mktemp -d)
started=()
cleanup() {
    local pid
    for pid in "${started[@]}"; do kill -9 "$pid" 2>/dev/null; done
    if [ "$failed" = 0 ]; then rm -rf "$work"; else echo "the records are kept in $work"; fi
}
trap cleanup EXIT
# A store of this run's own: claims of other suites and runs on the machine are not seen.
export ALLOCPORT_NAMESPACE="pysys-ci-$$" ALLOCPORT_TIMEOUT_SECS=120 SHARED_POOL_HOLD_SECS=1.0
export PYTHONDONTWRITEBYTECODE=1
# 40 ports below the usual ephemeral range, different for each run.
base=$((21000 + ($$ % 200) * 40))

step "the package's unit tests (python -m unittest)"
(cd "$root/python" && timeout 300 "$py" -m unittest 2>&1) | tee "$work/unit.log" | tail -5
ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p' "$work/unit.log")
bad_tests=0
for n in $(sed -n 's/^FAILED (\(.*\))/\1/p' "$work/unit.log" | grep -o '[0-9]\+'); do
    bad_tests=$((bad_tests + n))
done
if [ -z "$ran" ]; then
    bad "the unit tests did not run"
else
    passed=$((passed + ran - bad_tests))
    failed=$((failed + bad_tests))
    echo "unit tests: $((ran - bad_tests)) passed, $bad_tests failed"
fi

# Waits up to $2 seconds for process $1, killing it then; returns its exit status.
wait_bounded() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null && echo "process $pid killed after $2 s"
    wait "$pid"
}

# scenario NAME PROJECT_FILE PYSYS_RUNS SHORT_HOLDERS LONG_PORTS...
# Long holders (`allocport exec -n K`, not binding) start first and hold for the whole
# scenario; PYSYS_RUNS PySys runs and SHORT_HOLDERS one-port holders (binding) follow at once.
scenario() {
    local name=$1 project=$2 runs=$3 shorts=$4
    shift 4
    local longs=("$@") dir=$work/$name i pid total=0 status=0
    local rec=$dir/record stop=$dir/stop args=() run_pids=() long_pids=()
    mkdir -p "$dir/status"
    : >"$rec"
    for i in "${!longs[@]}"; do
        "${peer[@]}" exec -n "${longs[$i]}" -- "$py" "$here/lib/holder.py" --no-bind \
            --holder "rust-long-$i" --record "$rec" --until-file "$stop" --max 280 \
            --ports-env ALLOCPORT_PORTS >"$dir/rust-long-$i.out" 2>&1 &
        started+=($!)
        long_pids+=($!)
        args+=(--holder-pid "$!=rust-long-$i" --must-see "rust-long-$i" --expect "rust-long-$i=1")
        total=$((total + longs[i]))
    done
    local deadline=$((SECONDS + 60))
    while [ "$(grep -c '^start rust-long' "$rec")" -lt "$total" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "the long holders did not start"; cat "$dir"/rust-long-*.out; break; }
        sleep 0.1
    done
    (while [ ! -e "$stop" ]; do "${peer[@]}" status >"$dir/status/$(date +%s%N)" 2>&1; sleep 0.3; done) &
    started+=($!)
    local status_loop=$!
    (for i in $(seq 1 "$shorts"); do
        "${peer[@]}" exec -n 1 -- "$py" "$here/lib/holder.py" --holder "rust-short-$i" \
            --record "$rec" --hold 0.5 --ports-env ALLOCPORT_PORTS >>"$dir/rust-short.out" 2>&1
    done) &
    started+=($!)
    local short_loop=$!
    for i in $(seq 1 "$runs"); do
        (cd "$here" && exec env PYSYS_PROJECTFILE="$project" SHARED_POOL_RECORD="$rec" \
            SHARED_POOL_RUN="$name-$i" "$py" "$pysys" run -j4 -o "$dir/out-$i" >"$dir/pysys-$i.log" 2>&1) &
        started+=($!)
        run_pids+=($!)
        args+=(--holder-pid "$!=pysys-$name-$i-" --expect "pysys-$name-$i-=8")
        [ "$project" = pysysproject.xml ] && args+=(--must-see "pysys-$name-$i-")
    done
    for i in "${!run_pids[@]}"; do
        wait_bounded "${run_pids[$i]}" 280 || { status=1; echo "PySys run $((i + 1)) failed:"; grep -E 'FAILED|BLOCKED|Traceback|Error' "$dir/pysys-$((i + 1)).log" | head -20; }
        grep -h 'Success outcomes' "$dir/pysys-$((i + 1)).log" | sed 's/^.*CRIT  */  PySys run '"$((i + 1))"': /'
    done
    wait_bounded "$short_loop" 200 || status=1
    args+=(--expect "rust-short-=$shorts")
    touch "$stop"
    for pid in "${long_pids[@]}"; do wait_bounded "$pid" 30 || status=1; done
    wait_bounded "$status_loop" 30
    "$py" "$here/lib/check.py" --record "$rec" --status-dir "$dir/status" "${args[@]}" || status=1
    return $status
}

# The pools are the smallest that cannot deadlock: a test takes its two ports one at a time,
# so PySys with T test threads in all needs T+1 free ports, or every thread can hold one
# port while it waits for a second (PySys alone does the same).
step "(b) pysys run -j4 beside allocport exec -n 5 holding half of a 10-port pool"
export PYSYS_PORTS="$base-$((base + 9))"
if scenario b pysysproject.xml 1 4 5; then ok "(b) one PySys run and allocport holders"; else bad "(b) one PySys run and allocport holders"; fi

step "(c) two PySys runs (-j4) and two allocport exec -n 2 at once on a 13-port pool"
export PYSYS_PORTS="$((base + 10))-$((base + 22))"
if scenario c pysysproject.xml 2 2 2 2; then ok "(c) two PySys runs and two allocport holders"; else bad "(c) two PySys runs and two allocport holders"; fi

step "control: PySys without the plugin beside allocport exec -n 5 (the check must fail)"
export PYSYS_PORTS="$((base + 25))-$((base + 34))"
if scenario control control-without-plugin.xml 1 0 5 >"$work/control.log" 2>&1; then
    bad "control: PySys without the plugin was not caught"; cat "$work/control.log"
elif grep -q "held by rust-long-0 and pysys\|held by pysys-control-1-.* and rust-long-0" "$work/control.log"; then
    ok "control: without the plugin, PySys handed out $(grep -c "FAILED: port" "$work/control.log") ports allocport held"
    grep -m3 "FAILED: port" "$work/control.log" | sed 's/FAILED: /caught: /'
else
    bad "control: it failed for another reason"; cat "$work/control.log"
fi
finish
