"""Fleet report tests: make the checkout importable as ansible_collections.reaper.systemd.

These tests use real parts (ansible-playbook, Debian's chromium and chromedriver); `make report-test`
installs what they need. A missing prerequisite fails the test with the command that provides it.
"""

import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS = os.path.join(REPO, "build", "pytest-collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "reaper", "systemd")
OUTPUT = os.path.join(REPO, "tests", "output")

if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(REPO, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

SCHEMA = os.path.join(REPO, "plugins", "plugin_utils", "report_assets", "report.schema.json")


def assert_valid_report(report):
    """report.json matches the JSON Schema the collection ships (and the schema itself is valid)."""
    import json

    import jsonschema

    with open(SCHEMA, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [
        "%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message)
        for e in jsonschema.Draft202012Validator(schema).iter_errors(json.loads(json.dumps(report)))
    ]
    assert errors == [], errors[:10]
