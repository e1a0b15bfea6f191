"""Every report a filter test builds must match the shipped JSON Schema of report.json.

The filters that make reports are wrapped for the duration of each test; what they returned is
validated (as JSON, the way report.json is written) when the test ends. A test that feeds garbage on
purpose says so with ``@pytest.mark.invalid_report``.
"""

import json
import os

import jsonschema
import pytest

from ansible_collections.reaper.systemd.plugins.filter import report as rp

SCHEMA_PATH = os.path.join(
    os.path.dirname(os.path.abspath(rp.__file__)), "..", "plugin_utils", "report_assets", "report.schema.json"
)


def load_schema():
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


VALIDATOR = jsonschema.Draft202012Validator(load_schema())


def schema_errors(report):
    doc = json.loads(json.dumps(report))
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message) for e in VALIDATOR.iter_errors(doc)]


def pytest_configure(config):
    config.addinivalue_line("markers", "invalid_report: the test builds a report from garbage on purpose")


@pytest.fixture(autouse=True)
def every_report_matches_the_schema(request, monkeypatch):
    produced = []
    if not request.node.get_closest_marker("invalid_report"):
        for name in ("reaper_report", "reaper_report_merge"):
            original = getattr(rp, name)

            def recording(*args, _original=original, **kwargs):
                report = _original(*args, **kwargs)
                produced.append(report)
                return report

            monkeypatch.setattr(rp, name, recording)
    yield produced
    for report in produced:
        errors = schema_errors(report)
        assert errors == [], errors[:10]
