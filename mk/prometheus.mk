# The Prometheus alerting rules (included by the Makefile).
#
#   make prometheus-test   the shipped rule file is the default rendering of its template; promtool
#                          checks it and a rendering with short durations (as a lab would use), and
#                          runs the rule unit tests tests/prometheus/*.test.yml (series in, alerts out)
#
# promtool comes from Debian's `prometheus` package (tools/apt-ensure.sh installs it without starting
# the daemon). A missing promtool fails the stage.

PROMETHEUS_APT := promtool=prometheus
PROMETHEUS_RULES := extensions/prometheus/reaper-systemd.rules.yml
PROMETHEUS_RENDER := python3 extensions/prometheus/render_rules.py
PROMTOOL_TESTS = $(sort $(wildcard tests/prometheus/*.test.yml))
# Short durations, as a lab renders them; promtool checks that such a rendering is valid too.
PROMETHEUS_SHORT_RULES := $(BUILD)/prometheus/short.rules.yml
PROMETHEUS_SHORT_SETS := --set zombies_min=1 --set zombies_for=1m --set zombies_growth_window=10m \
	--set zombies_growth_for=1m --set leaks_for=1m --set pid_usage_for=1m --set forecast_window=10m \
	--set forecast_horizon=30m --set forecast_for=1m --set stale_for=1m --set metrics_missing_for=1m

.PHONY: prometheus-test

prometheus-test:
	@bash tools/apt-ensure.sh $(PROMETHEUS_APT)
	@if ! command -v promtool >/dev/null; then echo "prometheus-test: promtool is missing (Debian package prometheus)" >&2; exit 1; fi
	@if [[ -z "$(PROMTOOL_TESTS)" ]]; then echo "prometheus-test: no tests/prometheus/*.test.yml: that is a failure" >&2; exit 1; fi
	@promtool --version 2>&1 | head -1
	$(PROMETHEUS_RENDER) --check $(PROMETHEUS_RULES)
	promtool check rules $(PROMETHEUS_RULES)
	@mkdir -p "$(dir $(PROMETHEUS_SHORT_RULES))"
	$(PROMETHEUS_RENDER) $(PROMETHEUS_SHORT_SETS) --output $(PROMETHEUS_SHORT_RULES)
	promtool check rules $(PROMETHEUS_SHORT_RULES)
	promtool test rules $(PROMTOOL_TESTS)

# `make test` runs it in its serial part, after lint (a few seconds); promtool is installed with the
# other Debian packages before the stages start (TEST_APT).
SERIAL_TEST_STAGES += prometheus-test
TEST_APT += $(PROMETHEUS_APT)
