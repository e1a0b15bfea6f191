# The collection as its users get it (included by the Makefile).
#
#   make role-docs        rewrite the variables table of each role's README from meta/argument_specs.yml
#                         (tests/unit/test_role_docs.py fails while a README is out of date)

.PHONY: role-docs

role-docs: venv
	python tools/role_docs.py
