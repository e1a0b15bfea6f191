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
	@rc=0; python -m pytest tests/report -p no:cacheprovider $(PYTEST_ARGS) || rc=$$?; \
	if [[ $$rc -eq 5 ]]; then echo "report-test: pytest collected no test: that is a failure" >&2; exit 1; fi; \
	exit $$rc

# `make test` runs it after sanity (the Makefile's EXTRA_TEST_STAGES hook).
EXTRA_TEST_STAGES += report-test
