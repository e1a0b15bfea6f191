#!/usr/bin/env bash
# Run `make STAGE` for each stage in order, print the wall time of each, stop at the
# first failing stage and close with a table of stage times.
# With KEEP_GOING=1 every stage runs and the script fails at the end if any stage failed.
#
#   MAKE=make tools/run-stages.sh venv unit lint ...
set -uo pipefail

make_cmd=${MAKE:-make}
keep_going=${KEEP_GOING:-}
failed=()
names=()
times=()
results=()
total_start=$(date +%s)

summary() {
    echo
    echo "== stage times"
    printf '%-28s %8s  %s\n' "stage" "seconds" "result"
    printf '%-28s %8s  %s\n' "----------------------------" "--------" "------"
    local i
    for i in "${!names[@]}"; do
        printf '%-28s %8s  %s\n' "${names[$i]}" "${times[$i]}" "${results[$i]}"
    done
    printf '%-28s %8s\n' "total" "$(($(date +%s) - total_start))"
}

for stage in "$@"; do
    echo
    echo "== stage $stage: start ($(date -u +%H:%M:%S) UTC)"
    start=$(date +%s)
    rc=0
    $make_cmd --no-print-directory "$stage" || rc=$?
    elapsed=$(($(date +%s) - start))
    names+=("$stage")
    times+=("$elapsed")
    if [[ $rc -ne 0 ]]; then
        results+=("FAILED (exit $rc)")
        echo "== stage $stage: FAILED after $elapsed s (exit $rc)"
        if [[ -n $keep_going ]]; then
            failed+=("$stage")
            continue
        fi
        summary
        echo
        echo "make test: FAILED at stage '$stage'; later stages did not run. Re-run it alone with: make $stage"
        exit 1
    fi
    results+=("ok")
    echo "== stage $stage: $elapsed s"
done

summary
echo
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "make test: FAILED stages: ${failed[*]} (KEEP_GOING ran the others). Re-run one alone with: make STAGE"
    exit 1
fi
echo "make test: all ${#names[@]} stages succeeded"
