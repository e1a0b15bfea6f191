# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of reaper.systemd.fleet_report: build the fleet report once and write its three files.

Why an action and not filters in templated task arguments: at thousands of hosts every value that
passes through Ansible's templating is walked node by node (about a million nodes for 5,000 hosts),
and the old report play did that for every host's ``reaper_audit`` and again for each of the three
files. Here each host's ``reaper_audit`` is read as stored (``hostvars.raw_get``: no templating, so a
process name that looks like a template stays text), the report is built and rendered once, and only
small values (the summary, the terminal lines, the JSON text) go back to the play.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat
import tempfile
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase

from ansible_collections.reaper.systemd.plugins.module_utils import option_checks, path_rules
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_compare import compare
from ansible_collections.reaper.systemd.plugins.plugin_utils import report_merge
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_merge import merge
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_model import build_report, summary
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_render import (
    render_html,
    render_json,
    render_markdown,
)
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_text import render_text

ARGS = {
    # no '~' or '$VAR' expansion: the path is checked as given (report_directory)
    "report_dir": {"type": option_checks.PLAIN_PATH, "required": True},
    "hosts": {"type": "list", "elements": "str", "default": []},
    "label": {"type": "str"},
    "all_units": {"type": "bool", "default": False},
    "slice": {"type": "str", "default": ""},
    "baseline": {"type": "dict"},
    "merge_inputs": {"type": "list", "elements": "dict"},
}
FILES = ("report.json", "report.md", "report.html")


def _set_fact_store(hostvars):
    """The variable manager's per-host store of set_fact results, or None where it is not there.

    Reading each host's ``reaper_audit`` there costs nothing per host; ``raw_get`` assembles a host's
    whole variable set, deep copy of its facts included (about a second per 1,000 hosts here).
    It is a private attribute: when a release renames it, ``host_results`` falls back to ``raw_get``.
    """
    store = getattr(getattr(hostvars, "_variable_manager", None), "_nonpersistent_fact_cache", None)
    return store if isinstance(store, Mapping) else None


def host_results(hostvars, hosts):
    """``{host: reaper_audit}`` as the audit stored it (None for a host without one: not reached)."""
    store = _set_fact_store(hostvars)
    results = {}
    for name in hosts:
        if store is not None and "reaper_audit" in store.get(name, {}):
            value = store[name]["reaper_audit"]
        elif hostvars is not None and name in hostvars:
            # only for a host the inventory knows: raw_get of another (a host not in this inventory
            # or slice) builds Jinja's "undefined" marker, which fails outside a template
            stored = hostvars.raw_get(name)
            value = stored.get("reaper_audit") if isinstance(stored, Mapping) else None
        else:
            value = None
        results[name] = value if isinstance(value, Mapping) else None
    return results


def report_directory(value):
    """The report directory, checked like every path of the collection, and where it really leads.

    Refused (AnsibleActionFail naming report_dir): what option_checks.absolute_path refuses
    (relative, '..', globs, invisible characters, lengths, the system's shared directories),
    a report_dir that is itself a symlink, and one whose real location is a shared directory
    (a symlink to /etc higher up).
    """
    try:
        normal = option_checks.absolute_path("report_dir", value)
    except option_checks.InvalidOption as exc:
        raise AnsibleActionFail(str(exc))
    if os.path.islink(normal):
        raise AnsibleActionFail(
            "report_dir must not be a symlink (it leads to %s), got %r" % (os.path.realpath(normal), value)
        )
    problem = path_rules.shared_directory(os.path.realpath(normal))
    if problem:
        raise AnsibleActionFail(
            "report_dir %s once symlinks are followed (%s), got %r" % (problem, os.path.realpath(normal), value)
        )
    return normal


# A slice id names a directory when the report is published (slices/<id>): a plain name only.
_SLICE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")


def check_arguments(args):
    """The values Ansible's own types let through that the report must not carry (AnsibleActionFail naming them).

    The label, the slice id and host names are written into report.md and report.html and shown on
    terminals: no control, bidi or other invisible characters. The slice id becomes a directory name.
    A baseline or a merge input must be a report.
    """
    try:
        if args["label"] is not None:
            option_checks.safe_string("label", args["label"], allow_empty=True, allow_dash=True)
        if args["slice"] and not _SLICE_ID.match(args["slice"]):
            raise option_checks.InvalidOption(
                "slice", args["slice"], "must be a slice id of letters, digits, '_', '.' and '-' (at most 64)"
            )
        for name in args["hosts"]:
            option_checks.safe_string("hosts", name, allow_dash=True)
    except option_checks.InvalidOption as exc:
        raise AnsibleActionFail(str(exc))
    for option, reports in (
        ("baseline", [args["baseline"]] if args["baseline"] else []),
        ("merge_inputs", args["merge_inputs"] or []),
    ):
        for index, report in enumerate(reports):
            try:
                report_merge._check(report, index)
            except Exception as exc:  # AnsibleFilterError, said for the filter: say it for the option
                raise AnsibleActionFail(
                    "%s is not a fleet report: %s, got %s" % (option, exc, option_checks.shown(report))
                )


def _same_content(path, data):
    """True when ``path`` is a regular file (not a symlink) holding ``data``; read without following links."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            return False  # absent, or a symlink: replaced by the rename below
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode) or handle.read() != data:
            return False
        os.fchmod(handle.fileno(), 0o644)
    return True


def write_if_changed(path, text):
    """Write ``text`` to ``path`` atomically (mode 0644); True when the content changed."""
    data = to_bytes(text)
    if _same_content(path, data):
        return False
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".%s." % os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGS)[1]
        report_dir = report_directory(args["report_dir"])
        check_arguments(args)

        try:
            if args["merge_inputs"] is not None:
                report = merge(args["merge_inputs"], args["label"])
            else:
                hosts = [str(h) for h in args["hosts"]]
                results = host_results(task_vars.get("hostvars"), hosts)
                report = build_report(results, None, args["label"] or "", args["all_units"], 10, args["slice"])
            if args["baseline"]:
                report["comparison"] = compare(args["baseline"], report)
            texts = {
                "report.json": render_json(report),
                "report.md": render_markdown(report),
                "report.html": render_html(report),
            }
        except Exception as ex:  # the model raises AnsibleFilterError with a message that names the input
            raise AnsibleActionFail("reaper.systemd.fleet_report: %s" % ex) from ex

        # written in check mode too: the report is the audit's output, not a change to a managed host
        changed = False
        if not os.path.isdir(report_dir):
            os.makedirs(report_dir, mode=0o755)
            os.chmod(report_dir, 0o755)  # not narrowed by the umask; an existing directory keeps its mode
            changed = True
        for name in FILES:
            changed = write_if_changed(os.path.join(report_dir, name), texts[name]) or changed

        result.update(
            changed=changed,
            report_dir=report_dir,
            files=[os.path.join(report_dir, name) for name in FILES],
            hosts=len(report.get("hosts", {})),
            report_json=texts["report.json"],
            text=render_text(report, report_dir=report_dir).split("\n"),
            summary=summary(report, report_dir),
            totals=report.get("totals", {}),
        )
        return result
