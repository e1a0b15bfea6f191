#!/usr/bin/env bash
# The alert loop end to end (make eda-loop): bring up the lab host of molecule/eda_loop, render the
# shipped Prometheus rules with the lab's short durations, run tests/eda/loop.py against the host,
# and remove the host whatever happened (loop.py stops the processes it started itself).
#
#   EDA_VENV=.venv-eda tests/eda/run-loop.sh
#
# Needs what `make eda-loop` installs first: the test venv (molecule, containers.podman), the EDA venv
# (ansible-rulebook), the lab images, Debian's prometheus, prometheus-alertmanager and a Java runtime.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
EDA_VENV=${EDA_VENV:-$ROOT/.venv-eda}
OUT=${REAPER_EDA_LOOP_DIR:-$ROOT/build/eda-loop}
export REAPER_EDA_LOOP_NODE_PORT=${REAPER_EDA_LOOP_NODE_PORT:-19110}
SCENARIO=eda_loop
HOST=reaper-eda-loop

stamp() { printf '[eda-loop %(%H:%M:%S)T] %s\n' -1 "$*"; }

# shellcheck disable=SC2317  # run by the EXIT trap
destroy() {
    stamp "removing the lab host"
    molecule destroy -s "$SCENARIO" >"$OUT/molecule-destroy.log" 2>&1 \
        || { echo "eda-loop: molecule destroy failed (see $OUT/molecule-destroy.log)" >&2; return 1; }
}

mkdir -p "$OUT"
started=$SECONDS
# A host left over by an interrupted run goes first.
molecule destroy -s "$SCENARIO" >"$OUT/molecule-destroy.log" 2>&1 || true
trap 'destroy' EXIT
trap 'exit 130' INT TERM

# Short durations for the lab: the zombie alert fires after 30 s at 5 zombies or more (the drip
# leaks one every 2 s; the timer reports once a minute). Everything else keeps its shipped value.
stamp "rendering the shipped rules with the lab's durations"
python3 extensions/prometheus/render_rules.py --set zombies_for=30s --set zombies_min=5 --output "$OUT/rules.yml"
promtool check rules "$OUT/rules.yml"

stamp "lab host: create, prepare, converge, verify (molecule scenario $SCENARIO)"
# converge creates and prepares the host first
for step in converge verify; do
    if ! molecule "$step" -s "$SCENARIO" >"$OUT/molecule-$step.log" 2>&1; then
        tail -n 60 "$OUT/molecule-$step.log" >&2
        echo "eda-loop: molecule $step failed (full log: $OUT/molecule-$step.log)" >&2
        exit 1
    fi
done
stamp "lab host ready after $((SECONDS - started)) s"

rc=0
python3 tests/eda/loop.py --host "$HOST" --node-exporter "127.0.0.1:$REAPER_EDA_LOOP_NODE_PORT" \
    --rules "$OUT/rules.yml" --eda-venv "$EDA_VENV" --workdir "$OUT/run" || rc=$?
stamp "the loop took $((SECONDS - started)) s with the lab host"
exit "$rc"
