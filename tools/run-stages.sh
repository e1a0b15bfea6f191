#!/usr/bin/env bash
# Run `make STAGE` for each stage, print the wall time of each, stop at the first failing
# stage and close with a table of stage times.
#
#   MAKE=make tools/run-stages.sh venv unit lint -- report-test molecule-a molecule-b ...
#
# Stages before `--` run one after the other. Stages after `--` are independent of each other
# (each Molecule scenario boots its own lab hosts): TEST_LANES lanes (default 2) run side by
# side, and each lane takes the next stage from one shared queue, in the order given, whenever
# it is free. Given longest first, that keeps the lanes' ends close whatever each stage costs
# on the machine. Most of a scenario's time is spent waiting for systemd, the lab's services
# and timers, so two lanes on two cores nearly halve the wall time. Each stage of a lane writes
# its output to build/stage-logs/STAGE.log, printed whole when the stage ends.
# With KEEP_GOING=1 every stage runs and the script fails at the end if any stage failed;
# without it, a failure stops the queue: no lane starts another stage (the others finish
# what they run).
set -uo pipefail

make_cmd=${MAKE:-make}
keep_going=${KEEP_GOING:-}
lanes=${TEST_LANES:-2}
log_dir=${STAGE_LOG_DIR:-build/stage-logs}
results_file=$(mktemp)
queue_file=$(mktemp)
trap 'rm -f "$results_file" "$results_file.print" "$queue_file" "$queue_file.lock" "$queue_file.stop"' EXIT
total_start=$(date +%s)

summary() {
    echo
    echo "== stage times"
    printf '%-28s %8s  %s\n' "stage" "seconds" "result"
    printf '%-28s %8s  %s\n' "----------------------------" "--------" "------"
    local name seconds result
    while IFS=$'\t' read -r name seconds result; do
        printf '%-28s %8s  %s\n' "$name" "$seconds" "$result"
    done <"$results_file"
    printf '%-28s %8s\n' "total" "$(($(date +%s) - total_start))"
}

record() { # name seconds result
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results_file"
}

failed_stages() {
    awk -F'\t' '$3 != "ok" { print $1 }' "$results_file" | tr '\n' ' '
}

# One stage in the foreground, its output streamed.
run_stage() {
    local stage=$1 start rc=0 elapsed
    echo
    echo "== stage $stage: start ($(date -u +%H:%M:%S) UTC)"
    start=$(date +%s)
    $make_cmd --no-print-directory "$stage" || rc=$?
    elapsed=$(($(date +%s) - start))
    if [[ $rc -ne 0 ]]; then
        record "$stage" "$elapsed" "FAILED (exit $rc)"
        echo "== stage $stage: FAILED after $elapsed s (exit $rc)"
        return 1
    fi
    record "$stage" "$elapsed" "ok"
    echo "== stage $stage: $elapsed s"
}

# The next stage of the shared queue (its first line, removed), or nothing once the queue is
# empty or stopped by a failure.
next_stage() {
    (
        flock 8
        [[ -e $queue_file.stop ]] && exit 0
        head -n 1 "$queue_file"
        sed -i 1d "$queue_file"
    ) 8>"$queue_file.lock"
}

# One lane: take stages from the queue until it is empty, each into its log, printed when it ends.
run_lane() {
    local lane=$1 stage start rc elapsed log
    while stage=$(next_stage) && [[ -n $stage ]]; do
        log="$log_dir/$stage.log"
        echo "== stage $stage: start in lane $lane ($(date -u +%H:%M:%S) UTC), output in $log"
        start=$(date +%s)
        rc=0
        $make_cmd --no-print-directory "$stage" >"$log" 2>&1 </dev/null || rc=$?
        elapsed=$(($(date +%s) - start))
        {
            flock 9
            echo
            echo "== stage $stage (lane $lane): output"
            cat "$log"
            if [[ $rc -ne 0 ]]; then
                record "$stage" "$elapsed" "FAILED (exit $rc)"
                echo "== stage $stage: FAILED after $elapsed s (exit $rc)"
            else
                record "$stage" "$elapsed" "ok"
                echo "== stage $stage: $elapsed s"
            fi
        } 9>"$results_file.print"
        if [[ $rc -ne 0 && -z $keep_going ]]; then
            touch "$queue_file.stop"
            echo "== lane $lane: no further stage starts after the failure of $stage"
            return 1
        fi
    done
}

stop_failed() {
    summary
    echo
    echo "make test: FAILED at stage(s): $(failed_stages); re-run one alone with: make STAGE"
    exit 1
}

serial=()
parallel=()
seen_separator=
for arg in "$@"; do
    if [[ $arg == -- ]]; then
        seen_separator=1
    elif [[ -n $seen_separator ]]; then
        parallel+=("$arg")
    else
        serial+=("$arg")
    fi
done

for stage in "${serial[@]}"; do
    if ! run_stage "$stage" && [[ -z $keep_going ]]; then
        stop_failed
    fi
done

if [[ ${#parallel[@]} -gt 0 ]]; then
    mkdir -p "$log_dir"
    if [[ $lanes -lt 1 ]]; then lanes=1; fi
    echo
    echo "== ${#parallel[@]} independent stages in $lanes lane(s), in this order: ${parallel[*]} ($(date -u +%H:%M:%S) UTC)"
    printf '%s\n' "${parallel[@]}" >"$queue_file"
    pids=()
    for ((lane = 1; lane <= lanes; lane++)); do
        run_lane "$lane" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || true
    done
fi

count=$(wc -l <"$results_file")
expected=$((${#serial[@]} + ${#parallel[@]}))
if [[ -n $(failed_stages) || $count -ne $expected ]]; then
    if [[ $count -ne $expected ]]; then
        echo "make test: $((expected - count)) stage(s) did not run after a failure"
    fi
    stop_failed
fi
summary
echo
echo "make test: all $count stages succeeded"
