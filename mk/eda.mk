# Event-Driven Ansible: the rulebook's virtualenv and the alert loop end to end (included by the Makefile).
#
#   make eda-venv   ansible-rulebook (pinned in extensions/eda/requirements.txt) in its own virtualenv,
#                   $(EDA_VENV); it needs a Java runtime (Debian's openjdk-17-jre-headless)
#   make eda-loop   the loop on this machine, all on 127.0.0.1: a lab host (molecule/eda_loop) whose
#                   zombie leak makes Debian's Prometheus fire ReaperUnitZombies, Debian's Alertmanager
#                   posts it to ansible-rulebook, which restarts the unit through
#                   reaper.systemd.remediate_alert; the alert resolves. Prints the timeline; fails if a
#                   step does not happen in time (tests/eda/loop.py, docs/testing.md "The alert loop").
#   make eda-alerts the alert path's checks with the real ansible-rulebook and webhook, no lab host
#                   (tests/eda/test_*.py; docs/alerts.md "Alerts are data" and "Floods").
#
# Installs what it needs from Debian (prometheus, prometheus-alertmanager, the Java runtime) and PyPI.

EDA_VENV := $(ROOT)/.venv-eda
EDA_VENV_STAMP := $(EDA_VENV)/.reaper-stamp
EDA_REQUIREMENTS := extensions/eda/requirements.txt
EDA_APT := prometheus=prometheus promtool=prometheus prometheus-alertmanager=prometheus-alertmanager \
	amtool=prometheus-alertmanager java=openjdk-17-jre-headless py:venv=python3-venv py:ensurepip=python3-venv

.PHONY: eda-venv eda-loop

eda-venv: $(EDA_VENV_STAMP)

$(EDA_VENV_STAMP): $(EDA_REQUIREMENTS) constraints-test.txt
	@bash tools/apt-ensure.sh $(EDA_APT)
	@if [[ ! -x "$(EDA_VENV)/bin/python" ]]; then \
		echo "eda-venv: creating $(EDA_VENV) with $$($(PYTHON) --version)"; \
		$(PYTHON) -m venv "$(EDA_VENV)"; \
	fi
	"$(EDA_VENV)/bin/python" -m pip install --quiet -c "$(CONSTRAINTS)" -r $(EDA_REQUIREMENTS)
	@"$(EDA_VENV)/bin/python" -m pip check
	@"$(EDA_VENV)/bin/ansible-rulebook" --version | head -n 1
	@touch "$@"

# One run at a time on the machine (any checkout): runs share the lab host's name and its port.
eda-loop: venv collection-link lab-images eda-venv
	@bash tools/apt-ensure.sh $(EDA_APT)
	@lock="$(HOME)/.ansible/reaper-systemd-eda-loop.lock"; mkdir -p "$(HOME)/.ansible"; \
	if ! flock -n "$$lock" true; then echo "eda-loop: waiting for another run of the loop to finish"; fi; \
	EDA_VENV="$(EDA_VENV)" flock --close "$$lock" bash tests/eda/run-loop.sh

# `make test` runs it after sanity, in one of the lanes (the Makefile's EXTRA_TEST_STAGES); its Debian
# packages are installed before the lanes start (TEST_APT).
EXTRA_TEST_STAGES += eda-loop
TEST_APT += $(EDA_APT)

# The alert path with the real ansible-rulebook and its webhook on 127.0.0.1 (tests/eda/test_*.py, about a
# minute, no lab host): alerts whose fields try to run code, forge output lines or widen the scope never
# start a playbook and nothing they carry runs; a valid alert runs; a flood of made-up alert names costs no
# run; the manual replay (-e reaper_alert_file=FILE) refuses such files and the alert given as an extra var.
.PHONY: eda-alerts
eda-alerts: venv collection-link eda-venv
	@rc=0; REAPER_EDA_VENV="$(EDA_VENV)" python -m pytest tests/eda -p no:cacheprovider -n 2 --dist loadfile \
		--basetemp="$$(mktemp -d -t reaper-eda-alerts.XXXXXX)" $(PYTEST_ARGS) || rc=$$?; \
	if [[ $$rc -eq 5 ]]; then echo "eda-alerts: pytest collected no test: that is a failure" >&2; exit 1; fi; \
	exit $$rc

EXTRA_TEST_STAGES += eda-alerts
