# Benchmarks (included by the Makefile): not part of `make test` (minutes long, and a
# benchmark prints figures, it does not pass or fail on them).
#
#   make bench                     the full run: N=10,000 processes over 200 units, 1,000 zombies,
#                                  scaling 1k/5k/10k/15k/20k, 5 repetitions; writes docs/benchmarks.md
#   make bench BENCH_N=2000 BENCH_UNITS=50 BENCH_ZOMBIES=200 BENCH_REPEAT=3
#                                  a quick run (its Markdown goes to tests/bench/output/)
#
# The page shows the previous run's key figures (tests/bench/previous_run.json) beside the new ones;
# the ratios come from one run only. BENCH_SCALE="1000 2000" sets the scaling points (default N/10 N/2 N 3N/2 2N);
# BENCH_ARGS passes other options of tests/bench/bench.py (--help lists them).

BENCH_N ?= 10000
BENCH_UNITS ?= 200
BENCH_ZOMBIES ?= 1000
BENCH_REPEAT ?= 5
BENCH_SCALE ?=
BENCH_ARGS ?=

.PHONY: bench

bench: venv lab-images
	python tests/bench/bench.py --processes $(BENCH_N) --units $(BENCH_UNITS) \
		--zombies $(BENCH_ZOMBIES) --repeat $(BENCH_REPEAT) \
		$(if $(strip $(BENCH_SCALE)),--scale "$(BENCH_SCALE)") $(BENCH_ARGS)
