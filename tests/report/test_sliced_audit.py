"""A sliced audit end to end: two slices publish partial reports, reaper.systemd.merge_reports merges them.

This is what AWX job slicing does with the audit: each slice job runs the audit on its part of the
inventory (here, two inventories, as AWX hands each slice its own) and copies its report to a host
that outlives the job (here "publisher", a local connection standing in for a file server that is
not among the audited hosts). A host in both slices (down-host) keeps the newer result.
"""

import json
import os
import sys

import pytest

from conftest import REPO, assert_valid_report
from test_audit_playbook import run_audit

MERGE = os.path.join(REPO, "playbooks", "merge_reports.yml")
LOCAL = "ansible_connection=local ansible_python_interpreter=%s" % sys.executable
DOWN = (
    "down-host ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh "
    "ansible_ssh_common_args='-o ConnectTimeout=5 -o StrictHostKeyChecking=no -o BatchMode=yes'"
)


def read(path):
    with open(str(path)) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def sliced(tmp_path_factory):
    path = tmp_path_factory.mktemp("sliced")
    (path / "slice1.ini").write_text("[fleet]\nthis-machine %s\n%s\n[files]\npublisher %s\n" % (LOCAL, DOWN, LOCAL))
    (path / "slice2.ini").write_text(
        "[fleet]\nbroken-host ansible_connection=local ansible_python_interpreter=/nonexistent/python3\n%s\n"
        "[files]\npublisher %s\n" % (DOWN, LOCAL)
    )
    (path / "files.ini").write_text("[files]\npublisher %s\n" % LOCAL)
    published = path / "published"
    common = ["-e", "reaper_targets=fleet", "-e", "reaper_report_publish_host=publisher"]
    common += ["-e", "reaper_report_publish_dir=%s" % published]
    for idx in (1, 2):
        result = run_audit(
            path,
            *common,
            "-e",
            "reaper_report_slice=%d" % idx,
            "-e",
            "reaper_report_dir=slice%d" % idx,
            inventory="slice%d.ini" % idx,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "report copied to publisher:%s/slices/%d/report.html" % (published, idx) in result.stdout
    return path, published


def merge(path, published, report_dir):
    return run_audit(
        path,
        "-e",
        "reaper_merge_host=publisher",
        "-e",
        "reaper_merge_dir=%s/slices" % published,
        "-e",
        "reaper_report_dir=%s" % report_dir,
        "-e",
        "reaper_report_publish_host=publisher",
        "-e",
        "reaper_report_publish_dir=%s" % published,
        playbook=MERGE,
        inventory="files.ini",
    )


def test_each_slice_publishes_a_partial_report(sliced):
    _path, published = sliced
    for idx, hosts in ((1, {"this-machine", "down-host"}), (2, {"broken-host", "down-host"})):
        part = read(published / "slices" / str(idx) / "report.json")
        assert_valid_report(part)
        assert set(part["hosts"]) == hosts
        assert [s["id"] for s in part["slices"]] == [str(idx)]
        assert all(h["slice"] == str(idx) for h in part["hosts"].values())
        assert (published / "slices" / str(idx) / "report.html").is_file()


def test_merge_reports_makes_one_report_of_every_slice(sliced):
    path, published = sliced
    result = merge(path, published, "merged")
    assert result.returncode == 0, result.stdout + result.stderr
    merged = read(path / "merged" / "report.json")
    assert_valid_report(merged)
    assert set(merged["hosts"]) == {"this-machine", "down-host", "broken-host"}
    assert merged["totals"]["hosts"] == 3 and merged["totals"]["status"]["unreachable"] == 1
    assert [s["id"] for s in merged["slices"]] == ["1", "2"]
    # slice 2 ran after slice 1: the host both slices listed keeps the result of slice 2
    assert merged["hosts"]["down-host"]["slice"] == "2"
    assert merged["hosts"]["this-machine"]["slice"] == "1"
    zombies = sum(h["totals"]["zombies"] for h in merged["hosts"].values())
    assert merged["totals"]["zombies"] == zombies
    assert "merged from 2 slices: 1 (" in result.stdout
    # the merged report is published beside the slices, and its Markdown names the slices
    assert read(published / "report.json") == merged
    assert "Merged from 2 slices: 1, 2." in (path / "merged" / "report.md").read_text()


def test_merging_again_changes_nothing(sliced):
    path, published = sliced
    first = merge(path, published, "again1")
    second = merge(path, published, "again2")
    assert first.returncode == 0 and second.returncode == 0, second.stdout + second.stderr
    assert read(path / "again1" / "report.json") == read(path / "again2" / "report.json")


def test_merge_without_reports_says_where_it_looked(sliced, tmp_path):
    path, _published = sliced
    result = merge(path, tmp_path, "none")
    assert result.returncode != 0
    assert "no report.json under %s/slices on publisher" % tmp_path in result.stdout
