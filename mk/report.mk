# Fleet report tests (included by the Makefile).
#
#   make report-test   the audit playbook end to end on this machine (a reachable host with zombies the
#                      test makes, an unreachable one, one whose scan fails) and the HTML report in
#                      Debian's headless Chromium (selenium); the screenshot lands in tests/output/report.png
#
# Installs chromium and chromium-driver from Debian when they are missing (no browser download).

REPORT_APT := chromium=chromium chromedriver=chromium-driver

.PHONY: report-test

report-test: venv
	@bash tools/apt-ensure.sh $(REPORT_APT)
	@rc=0; python -m pytest tests/report -p no:cacheprovider --basetemp="$$(mktemp -d -t reaper-report-test.XXXXXX)" $(PYTEST_ARGS) || rc=$$?; \
	if [[ $$rc -eq 5 ]]; then echo "report-test: pytest collected no test: that is a failure" >&2; exit 1; fi; \
	exit $$rc

# `make test` runs it after sanity (the Makefile's EXTRA_TEST_STAGES hook); its packages are
# installed before the independent stages start (TEST_APT).
EXTRA_TEST_STAGES += report-test
TEST_APT += $(REPORT_APT)

# The fleet demo: three lab containers (two running the zoo, one healthy) and an unreachable
# host; audit -> remediate (check mode, then for real) -> audit, through the molecule/fleet
# scenario's playbooks. Reports stay in reaper-report/demo/; the before/after summary is printed.
DEMO_DIR := $(ROOT)/reaper-report/demo

.PHONY: demo

demo: venv lab-images
	@rm -rf "$(DEMO_DIR)"
	@rc=0; \
	export REAPER_FLEET_DIR="$(DEMO_DIR)"; \
	molecule destroy -s fleet >/dev/null; \
	molecule create -s fleet && molecule prepare -s fleet && molecule converge -s fleet || rc=$$?; \
	molecule cleanup -s fleet >/dev/null || true; molecule destroy -s fleet >/dev/null || true; \
	if [[ $$rc -ne 0 ]]; then echo "demo: failed (output above)" >&2; exit $$rc; fi; \
	echo; echo "==== before/after summary ($(DEMO_DIR)/remediate/after/report.md) ===="; \
	cat "$(DEMO_DIR)/remediate/after/report.md"; \
	echo; echo "reports: $(DEMO_DIR)/reaper-report (audit), $(DEMO_DIR)/check (check mode), $(DEMO_DIR)/remediate/{before,after}"
