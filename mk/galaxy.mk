# The collection as its users get it (included by the Makefile).
#
#   make role-docs        rewrite the variables table of each role's README from meta/argument_specs.yml
#                         (tests/unit/test_role_docs.py fails while a README is out of date)

.PHONY: role-docs

role-docs: venv
	python tools/role_docs.py

# The built tarball, installed into an empty collections path, checked and run by FQCN
# (tests/collection/): on this machine (no systemd as PID 1) and in a lab container with systemd.
.PHONY: collection-test

collection-test: venv lab-images
	@rc=0; python -m pytest tests/collection -p no:cacheprovider --basetemp="$$(mktemp -d -t reaper-collection-test.XXXXXX)" $(PYTEST_ARGS) || rc=$$?; \
	if [[ $$rc -eq 5 ]]; then echo "collection-test: pytest collected no test: that is a failure" >&2; exit 1; fi; \
	exit $$rc

EXTRA_TEST_STAGES += collection-test
