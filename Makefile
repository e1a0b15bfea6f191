# reaper.systemd: development and test entry points.
#
# The README documents two commands:
#   make audit   scan localhost (or INVENTORY=...) and print a per-unit summary
#   make test    run every test and quality gate, in order, with stage times
#
# Both install what they need: audit only ansible-core (.venv-audit from requirements.txt), test
# the Debian packages and the pinned test tools (.venv from requirements-test.txt). Every pip
# install takes its exact versions from constraints-test.txt (make constraints-refresh renews it).
# Other stages can be run alone: make venv | unit | lint | sanity | molecule | molecule-NAME.
# Makefiles in mk/*.mk add targets (the lab images come from there).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

ROOT := $(abspath $(dir $(firstword $(MAKEFILE_LIST))))

# Molecule scenarios that `make test` runs (molecule/<name>/). Add a scenario here once it
# passes end to end, and to STAGES_LONGEST_FIRST below at the place its time puts it.
MOLECULE_SCENARIOS ?= cleanup_timer default adversarial cgroupv2 killmode_hardening fleet

PYTHON ?= python3
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV := $(ROOT)/.venv
VENV_STAMP := $(VENV)/.reaper-stamp
VENV_SITE := $(VENV)/lib/python$(PYVER)/site-packages
BUILD := $(ROOT)/build

# The checkout, seen by Ansible as the collection reaper.systemd (symlink, not committed).
COLLECTIONS_DIR := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS_DIR)/ansible_collections/reaper/systemd
# A real copy for ansible-test (it refuses directory symlinks).
SANITY_DIR := $(BUILD)/sanity/ansible_collections/reaper/systemd
SANITY_PYTHON ?= 3.11

# Tools run from the venv; Ansible finds this collection first, then the collections
# bundled with the `ansible` package in the venv (containers.podman, community.docker).
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS_DIR):$(VENV_SITE)
export ANSIBLE_FORCE_COLOR ?= $(if $(CI),0,1)
export PY_COLORS ?= $(if $(CI),0,1)
export DEBIAN_FRONTEND := noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Debian packages the gates need: COMMAND=PACKAGE (py:MODULE=PACKAGE for Python modules).
APT_PREREQS := git=git tar=tar shellcheck=shellcheck py:ensurepip=python3-venv py:venv=python3-venv

# `make audit` targets localhost unless INVENTORY names an inventory. It needs only ansible-core
# (requirements.txt), in its own small virtualenv: not the test toolchain of .venv.
AUDIT_VENV := $(ROOT)/.venv-audit
AUDIT_STAMP := $(AUDIT_VENV)/.reaper-stamp
AUDIT_APT_PREREQS := py:ensurepip=python3-venv py:venv=python3-venv
AUDIT_INVENTORY := $(BUILD)/localhost.ini
INVENTORY ?= $(AUDIT_INVENTORY)
AUDIT_ARGS ?=

.PHONY: help venv constraints-refresh collection-link audit doc unit lint ruff ansible-lint changelog-lint \
	sanity get-pip-shim molecule test clean distclean

help:
	@echo "make audit    scan localhost (or INVENTORY=path) and print a per-unit summary"
	@echo "make test     run every stage: venv lab-images unit lint sanity molecule"
	@echo "make venv | unit | lint | sanity | molecule | molecule-NAME | lab-images | doc NAME=x | clean"

# ---------------------------------------------------------------- environment

venv: $(VENV_STAMP) collection-link

# Every Python package make installs, direct and transitive, at the version this file pins.
CONSTRAINTS := $(ROOT)/constraints-test.txt

$(VENV_STAMP): requirements-test.txt requirements.txt constraints-test.txt
	@bash tools/apt-ensure.sh $(APT_PREREQS)
	@if [[ ! -x "$(VENV)/bin/python" ]]; then \
		echo "venv: creating $(VENV) with $$($(PYTHON) --version)"; \
		$(PYTHON) -m venv "$(VENV)"; \
	fi
	"$(VENV)/bin/python" -m pip install --quiet -c "$(CONSTRAINTS)" -r requirements-test.txt
	@"$(VENV)/bin/python" -m pip check
	@touch "$@"

# On purpose only: resolve the requirement files anew on PyPI, rewrite constraints-test.txt, show the diff.
constraints-refresh:
	bash tools/refresh-constraints.sh "$(PYTHON)"

collection-link:
	@mkdir -p "$(dir $(COLLECTION_LINK))"
	@if [[ "$$(readlink "$(COLLECTION_LINK)" 2>/dev/null)" != "$(ROOT)" ]]; then \
		ln -sfn "$(ROOT)" "$(COLLECTION_LINK)"; \
	fi

# ---------------------------------------------------------------- audit

$(AUDIT_STAMP): requirements.txt constraints-test.txt
	@bash tools/apt-ensure.sh $(AUDIT_APT_PREREQS)
	@if [[ ! -x "$(AUDIT_VENV)/bin/python" ]]; then \
		echo "audit: creating $(AUDIT_VENV) with $$($(PYTHON) --version)"; \
		$(PYTHON) -m venv "$(AUDIT_VENV)"; \
	fi
	"$(AUDIT_VENV)/bin/python" -m pip install --quiet -c "$(CONSTRAINTS)" -r requirements.txt
	@touch "$@"

$(AUDIT_INVENTORY): Makefile
	@mkdir -p "$(dir $@)"
	@printf '%s\n' '[audit]' \
		'localhost ansible_connection=local ansible_python_interpreter=$(AUDIT_VENV)/bin/python' > "$@"

audit: $(AUDIT_STAMP) collection-link $(AUDIT_INVENTORY)
	ANSIBLE_COLLECTIONS_PATH="$(COLLECTIONS_DIR)" \
		"$(AUDIT_VENV)/bin/ansible-playbook" -i "$(INVENTORY)" playbooks/audit.yml $(AUDIT_ARGS)

# Documentation through the collection link: make doc NAME=process_facts [TYPE=role|filter]
NAME ?= process_facts
TYPE ?= module
doc: venv
	ansible-doc -t $(TYPE) reaper.systemd.$(NAME)

# ---------------------------------------------------------------- gates

# Each pytest stage keeps its temporary files in a directory of its own (mktemp, outside the
# checkout: the collection tests build collection trees there, which must not sit inside this
# one): stages run side by side, and pytest's shared /tmp/pytest-of-USER keeps only its last few
# runs, deleting older ones (a running stage's among them).
# Test directories the unit stage runs; mk/*.mk files may add theirs (PYTEST_PATHS += ...).
PYTEST_PATHS := tests/unit

unit: venv
	@for d in $(PYTEST_PATHS); do if [[ ! -e $$d ]]; then echo "unit: $$d is missing" >&2; exit 1; fi; done
	@rc=0; python -m pytest $(PYTEST_PATHS) -p no:cacheprovider --basetemp="$$(mktemp -d -t reaper-unit.XXXXXX)" $(PYTEST_ARGS) || rc=$$?; \
	if [[ $$rc -eq 5 ]]; then echo "unit: pytest collected no test: that is a failure" >&2; exit 1; fi; \
	exit $$rc

# Every linter runs; the stage fails if any of them failed.
LINTERS := ruff changelog-lint ansible-lint
lint: venv
	@failed=""; for t in $(LINTERS); do \
		$(MAKE) --no-print-directory $$t || failed="$$failed $$t"; \
	done; \
	if [[ -n "$$failed" ]]; then echo "lint: failed:$$failed" >&2; exit 1; fi

ruff: venv
	ruff check .
	ruff format --check .

changelog-lint: venv
	antsibull-changelog lint

ansible-lint: venv
	ansible-lint

# ansible-test reads the cached get-pip script named after the pip version it pins.
get-pip-shim: venv
	@v=$$(sed -n "s/^ *pip='\([0-9.]*\)',*$$/\1/p" "$(VENV_SITE)/ansible_test/_internal/python_requirements.py"); \
	if [[ -z "$$v" ]]; then echo "get-pip-shim: cannot read ansible-test's pip version" >&2; exit 1; fi; \
	dest="$$HOME/.ansible/test/cache/get_pip_$${v//./_}.py"; \
	mkdir -p "$$(dirname "$$dest")"; \
	if ! cmp -s tools/get_pip_shim.py "$$dest"; then cp tools/get_pip_shim.py "$$dest"; echo "get-pip-shim: installed $$dest"; fi

# One run at a time: runs share the copy and ansible-test's virtualenvs in ~/.ansible/test.
SANITY_LOCK := $(HOME)/.ansible/test/reaper-systemd-sanity.lock

sanity: venv get-pip-shim
	@mkdir -p "$(dir $(SANITY_LOCK))"; exec 9>"$(SANITY_LOCK)"; \
	if ! flock -n 9; then echo "sanity: waiting for another ansible-test sanity run to finish"; flock 9; fi; \
	bash tools/sanity-tree.sh "$(ROOT)" "$(SANITY_DIR)"; \
	cd "$(SANITY_DIR)"; \
	echo "ansible-test sanity --python $(SANITY_PYTHON) --venv $(SANITY_ARGS)  (in $(SANITY_DIR))"; \
	env -u ANSIBLE_COLLECTIONS_PATH \
		ansible-test sanity --python $(SANITY_PYTHON) --venv --color $(if $(CI),no,yes) $(SANITY_ARGS)

molecule: venv
	@if [[ -z "$(strip $(MOLECULE_SCENARIOS))" ]]; then \
		echo "molecule: no scenario is listed in MOLECULE_SCENARIOS"; \
	else \
		for s in $(MOLECULE_SCENARIOS); do $(MAKE) --no-print-directory molecule-$$s; done; \
	fi

# One run per scenario at a time on the machine (any checkout): runs of a scenario share its
# container names and state.
molecule-%: venv
	@if [[ ! -f "molecule/$*/molecule.yml" ]]; then echo "molecule: no scenario molecule/$*" >&2; exit 1; fi
	@lock="$(HOME)/.ansible/reaper-systemd-molecule-$*.lock"; mkdir -p "$(HOME)/.ansible"; \
	if ! flock -n "$$lock" true; then echo "molecule: waiting for another run of scenario $* to finish"; fi; \
	echo "molecule test -s $*"; \
	flock --close "$$lock" molecule test -s $*

# ---------------------------------------------------------------- everything

# mk/*.mk files may add stages that run after sanity, before the scenarios (EXTRA_TEST_STAGES += name),
# and short ones that run one after the other between lint and sanity (SERIAL_TEST_STAGES += name).
EXTRA_TEST_STAGES :=
SERIAL_TEST_STAGES :=

# Debian packages the independent stages need, installed once before they start side by side
# (two apt-get runs at once would fight over dpkg's lock). mk/*.mk files add theirs.
TEST_APT :=

.PHONY: test-apt
test-apt:
	@bash tools/apt-ensure.sh $(TEST_APT)

# Stages after `--` are independent: tools/run-stages.sh runs them in TEST_LANES lanes side by
# side, each lane taking the next one from a shared queue. Longest first (stage times of the CI
# runs), so the lanes end close together; stages not listed here follow in their own order.
STAGES_LONGEST_FIRST := molecule-cleanup_timer molecule-fleet eda-loop molecule-adversarial \
	molecule-killmode_hardening molecule-cgroupv2 molecule-default collection-test report-test
LANE_STAGES = $(EXTRA_TEST_STAGES) \
	$(if $(strip $(MOLECULE_SCENARIOS)),$(addprefix molecule-,$(MOLECULE_SCENARIOS)),molecule)
TEST_STAGES = venv lab-images test-apt unit lint $(SERIAL_TEST_STAGES) sanity -- \
	$(foreach stage,$(STAGES_LONGEST_FIRST),$(filter $(stage),$(LANE_STAGES))) \
	$(filter-out $(STAGES_LONGEST_FIRST),$(LANE_STAGES))
TEST_LANES ?= 2

# KEEP_GOING=1 runs every stage even after a failure (the run still fails at the end).
test:
	@MAKE="$(MAKE)" KEEP_GOING="$(KEEP_GOING)" TEST_LANES="$(TEST_LANES)" bash tools/run-stages.sh $(TEST_STAGES)

clean:
	rm -rf build tests/output reaper-report .pytest_cache .ruff_cache

distclean: clean
	rm -rf .venv .venv-audit .venv-eda

# ---------------------------------------------------------------- extensions

# Other parts of the project add their targets in mk/*.mk (for example mk/lab.mk).
-include $(wildcard $(ROOT)/mk/*.mk)

# Until mk/lab.mk provides the real target.
ifeq ($(wildcard $(ROOT)/mk/lab.mk),)
.PHONY: lab-images
lab-images:
	@echo "lab-images: mk/lab.mk does not exist yet: no lab image to build"
endif
