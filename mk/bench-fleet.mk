# Fleet benchmark (included by the Makefile): not part of `make test`.
#
#   make bench-fleet                              1,000 and 5,000 simulated hosts of 150 units each, the report
#                                                 plays before and after the trimming of what the audit keeps
#   make bench-fleet BENCH_FLEET_HOSTS="200 1000" BENCH_FLEET_MODES=after
#
# Prints the controller's wall time, CPU time and peak RSS per run and writes the Markdown table to
# tests/bench/output/fleet.md (docs/benchmarks.md has the published one).

BENCH_FLEET_HOSTS ?= 1000 5000
BENCH_FLEET_UNITS ?= 150
BENCH_FLEET_MODES ?= before,after
BENCH_FLEET_ARGS ?=

.PHONY: bench-fleet

bench-fleet: venv
	python tests/bench/fleet/bench_fleet.py --hosts $(BENCH_FLEET_HOSTS) --units $(BENCH_FLEET_UNITS) \
		--modes $(BENCH_FLEET_MODES) $(BENCH_FLEET_ARGS)
