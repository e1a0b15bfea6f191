#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: killmode_dropin
short_description: Validate and install (or remove) the kill-behaviour drop-in of systemd services
version_added: 0.1.0
description:
  - Writes or removes one drop-in file per service, C(/etc/systemd/system/UNIT.d/50-reaper-killmode.conf)
    by default, and touches no other file.
  - All input is validated before anything is written. That covers the service names (systemd's alphabet,
    no C(/) or C(..), no leading C(-), no newline), that each service is known to systemd, the setting values
    (KillMode, time spans, signals, TasksMax, ExitType), that O(units[].content) sets exactly those settings,
    O(unit_dir), O(dropin_name) and O(exempt), and that the host's systemd release knows every requested directive.
    Any problem fails the task with all messages at once and leaves the host unchanged.
  - Before a drop-in is installed, the unit file and every drop-in systemd loads for it (C(FragmentPath)
    and C(DropInPaths)) are copied into a temporary directory and checked with C(systemd-analyze verify)
    twice, without and with the new drop-in. Only messages the new drop-in adds fail the task; warnings
    the unit already had are ignored. If any unit fails, nothing is written.
  - Does not reload systemd; the caller runs C(systemctl daemon-reload) once when the task changed.
  - This is the engine of the C(reaper.systemd.killmode_hardening) role, which renders O(units[].content)
    from its template and chooses the services. Use the role unless you need the module on its own.
author:
  - reaper.systemd maintainers (@reaper-systemd)
options:
  units:
    description:
      - The services to act on. The first entry for a service wins; later duplicates are ignored with a warning.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Service name. A name without suffix means C(.service), as with C(systemctl).
          - Aliases are resolved to the unit's real name (C(Id)), which names the drop-in directory.
        type: str
        required: true
      settings:
        description:
          - The settings O(units[].content) was rendered from. They are validated here, since a template cannot.
          - Keys C(kill_mode), C(send_sigkill), C(timeout_stop_sec), C(final_kill_signal), C(tasks_max),
            C(exit_type); a key with value V(null) is unset.
        type: dict
        default: {}
      content:
        description:
          - The full drop-in text (for example rendered by the role's template). Optional; without it the module
            renders the drop-in from O(units[].settings) itself.
          - It is read back the way systemd reads it before anything is written and must set exactly the validated
            O(units[].settings) and nothing else (comments, blank lines, one C([Service]) section and the kill
            directives, each once, no continuation lines); otherwise the task fails and nothing is written.
        type: str
  exempt:
    description:
      - Service names or glob patterns that are never given a drop-in (with O(state=present) they are
        skipped and reported in RV(exempted)). O(state=absent) ignores them, since removing our drop-in
        only restores the unit's own configuration.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) installs the drop-ins, V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  remove_all:
    description:
      - With O(state=absent), also remove the drop-in from every service directory under O(unit_dir) that
        holds one, listed or not.
    type: bool
    default: false
  dropin_name:
    description:
      - File name of the drop-in. It must end in C(.conf) (systemd reads nothing else).
      - A plain name of at most 255 bytes, without C(/), glob characters, control, bidi or other invisible characters.
    type: str
    default: 50-reaper-killmode.conf
  unit_dir:
    description:
      - Directory that holds the C(UNIT.d) drop-in directories.
      - Checked like every path of the collection (absolute, no C(..), no glob characters, not a shared directory
        such as C(/etc) or C(/tmp)); used as given, without C(~) or C($VAR) expansion.
    type: path
    default: /etc/systemd/system
  verify:
    description:
      - Check each new or changed drop-in with C(systemd-analyze verify) before writing anything.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Validation and C(systemd-analyze verify) run in check mode too; nothing is written.
  diff_mode:
    support: full
    description: One diff per drop-in file that would change.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with systemd as the service manager.
requirements:
  - systemd as the host's service manager (C(systemctl)); C(systemd-analyze) when O(verify=true).
notes:
  - Only C(.service) units are supported.
seealso:
  - module: reaper.systemd.process_facts
"""

EXAMPLES = r"""
- name: Give nginx KillMode=mixed
  reaper.systemd.killmode_dropin:
    units:
      - name: nginx.service
        settings:
          kill_mode: mixed
        content: |
          [Service]
          KillMode=mixed
  register: dropins
  notify: Reload systemd

- name: Remove every drop-in the role ever installed
  reaper.systemd.killmode_dropin:
    state: absent
    remove_all: true
"""

RETURN = r"""
units:
  description: One entry per service acted on, in input order (exempted ones are not listed).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The unit's real name.
      type: str
      sample: nginx.service
    path:
      description: Path of the drop-in file.
      type: str
      sample: /etc/systemd/system/nginx.service.d/50-reaper-killmode.conf
    action:
      description: What happened (or, in check mode, would happen).
      type: str
      choices: [created, updated, unchanged, removed, absent]
    kill_mode_before:
      description: The KillMode systemd reported before the change (empty for unknown units).
      type: str
      sample: process
    active_state:
      description: The unit's ActiveState.
      type: str
      sample: active
changed_units:
  description: Names of the services whose drop-in was (or would be) created, updated or removed.
  returned: always
  type: list
  elements: str
  sample: [nginx.service]
exempted:
  description: Services skipped because they matched O(exempt) (O(state=present) only).
  returned: always
  type: list
  elements: str
  sample: [ssh.service]
systemd_version:
  description: The host's systemd release.
  returned: always
  type: int
  sample: 252
"""

import glob
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reaper.systemd.plugins.module_utils import option_checks, path_rules
from ansible_collections.reaper.systemd.plugins.module_utils.killmode_dropin import (
    content_errors,
    render_dropin,
    setting_errors,
    support_errors,
    unit_name_error,
    verify_dropin,
)
from ansible_collections.reaper.systemd.plugins.module_utils.systemd_units import (
    parse_show_output,
)
from ansible_collections.reaper.systemd.plugins.module_utils.unit_names import (
    check_pattern,
    matches,
    normalize,
)

ARGUMENT_SPEC = dict(
    units=dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(
            name=dict(type="str", required=True),
            settings=dict(type="dict", default={}),
            content=dict(type="str"),
        ),
    ),
    exempt=dict(type="list", elements="str", default=[]),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    remove_all=dict(type="bool", default=False),
    dropin_name=dict(type="str", default="50-reaper-killmode.conf"),
    # no '~' or '$VAR' expansion (option_checks.DocumentedType): a path is used as given
    unit_dir=dict(type=option_checks.PLAIN_PATH, default="/etc/systemd/system"),
    verify=dict(type="bool", default=True),
)

SHOW_PROPERTIES = ("Id", "LoadState", "ActiveState", "KillMode", "FragmentPath", "DropInPaths")


def _systemctl(module, args):
    systemctl = module.get_bin_path("systemctl", required=True)
    rc, out, err = module.run_command(
        [systemctl, "--no-pager"] + args,
        environ_update={"LC_ALL": "C", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"},
    )
    if rc != 0:
        module.fail_json(
            msg="systemctl %s failed (rc=%d): %s" % (" ".join(args), rc, (err or out).strip()),
        )
    return out


def _systemd_version(module):
    first = _systemctl(module, ["--version"]).splitlines()[:1]
    words = first[0].split() if first else []
    if len(words) >= 2 and words[0] == "systemd" and words[1].isdigit():
        return int(words[1])
    module.fail_json(msg="cannot tell the systemd release from 'systemctl --version': %r" % first)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _installed_dropins(unit_dir, dropin_name):
    found = []
    for path in sorted(glob.glob(os.path.join(unit_dir, "*.service.d", dropin_name))):
        found.append(os.path.basename(os.path.dirname(path))[: -len(".d")])
    return found


def _check_options(params):
    """The module-wide options, through the collection's shared checks (after Ansible's conversion)."""
    name = option_checks.safe_string("dropin_name", params["dropin_name"])
    if "/" in name or name.startswith(".") or not name.endswith(".conf") or name == ".conf":
        raise option_checks.InvalidOption("dropin_name", name, "must be a plain file name ending in .conf")
    if len(name.encode("utf-8", "surrogatepass")) > path_rules.NAME_MAX_BYTES:
        # longer names fail with ENAMETOOLONG half-way through the writes
        raise option_checks.InvalidOption(
            "dropin_name", name, "must not be longer than %d bytes (NAME_MAX)" % path_rules.NAME_MAX_BYTES
        )
    if glob.has_magic(name):
        # the name is also a glob pattern when remove_all looks for installed drop-ins
        raise option_checks.InvalidOption("dropin_name", name, "must not contain the glob characters '*', '?' or '['")
    option_checks.absolute_path("unit_dir", params["unit_dir"])
    option_checks.string_list("exempt", params["exempt"], check_pattern)
    for item in params["units"]:
        option_checks.safe_string("units[].name", item["name"])
        if item["content"] is not None:
            # NUL or a carriage return would be cut or read differently by systemd
            if "\x00" in item["content"] or "\r" in item["content"]:
                raise option_checks.InvalidOption(
                    "units[].content", item["content"], "must not contain NUL or carriage returns"
                )


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    params = module.params
    state = params["state"]
    result = dict(changed=False, units=[], changed_units=[], exempted=[], systemd_version=None)
    try:
        _check_options(params)
    except option_checks.InvalidOption as exc:
        module.fail_json(msg="Invalid input, nothing was changed: %s" % exc, errors=[str(exc)], **result)
    dropin_name = params["dropin_name"]
    unit_dir = os.path.normpath(params["unit_dir"])

    # 1. Validate everything that needs no host: names and settings.
    errors = []
    requested = []
    seen = {}
    for item in params["units"]:
        raw_name = item["name"]
        error = unit_name_error(raw_name)
        if error:
            errors.append("units[].name: %s" % error)
            continue
        name = normalize(raw_name)
        settings = item["settings"] or {}
        content = item["content"]
        problems = setting_errors(name, settings) if state == "present" else []
        errors.extend(problems)
        if name in seen:
            if seen[name] != (settings, content):
                module.warn("%s is listed more than once; the first entry is used" % name)
            continue
        seen[name] = (settings, content)
        if state == "present" and not problems:
            if content is None:
                content = render_dropin(name, settings)
            else:
                errors.extend(content_errors(name, settings, content))
        requested.append(dict(name=name, settings=settings, content=content))
    if errors:
        module.fail_json(msg="Invalid input, nothing was changed: " + "; ".join(errors), errors=errors, **result)

    version = _systemd_version(module)
    result["systemd_version"] = version

    if state == "absent" and params["remove_all"]:
        for name in _installed_dropins(unit_dir, dropin_name):
            if name not in seen:
                seen[name] = ({}, None)
                requested.append(dict(name=name, settings={}, content=None))

    # 2. Exemptions (present only). Match the given name; the real name is checked below.
    targets = []
    for item in requested:
        if state == "present" and matches(item["name"], params["exempt"]):
            result["exempted"].append(item["name"])
            continue
        targets.append(item)

    # 3. Ask systemd about all targets in one call.
    if targets:
        blocks = parse_show_output(
            _systemctl(module, ["show", "-p", ",".join(SHOW_PROPERTIES), "--"] + [t["name"] for t in targets])
        )
        if len(blocks) != len(targets):
            module.fail_json(
                msg="systemctl show returned %d units for %d names; cannot match them up" % (len(blocks), len(targets)),
                **result,
            )
    else:
        blocks = []
    plan = []
    for item, props in zip(targets, blocks):
        load_state = props.get("LoadState", "")
        real = props.get("Id") or item["name"]
        if state == "present":
            if load_state == "not-found":
                errors.append("%s: unknown unit (systemd reports LoadState=not-found); check the name" % item["name"])
                continue
            if load_state == "masked":
                errors.append("%s: the unit is masked; unmask it or drop it from the list" % item["name"])
                continue
            if load_state != "loaded":
                errors.append(
                    "%s: systemd could not load the unit (LoadState=%s); fix the unit first"
                    % (item["name"], load_state)
                )
                continue
            if real != item["name"] and matches(real, params["exempt"]):
                result["exempted"].append(real)
                continue
            errors.extend(support_errors(real, item["settings"], version))
        dropin_paths = [p for p in props.get("DropInPaths", "").split() if p]
        plan.append(
            dict(
                name=real,
                item=item,
                props=props,
                dropin_paths=dropin_paths,
                path=os.path.join(unit_dir, real + ".d", dropin_name),
            )
        )
    if errors:
        module.fail_json(msg="Invalid input, nothing was changed: " + "; ".join(errors), errors=errors, **result)

    for name in result["exempted"]:
        if os.path.exists(os.path.join(unit_dir, name + ".d", dropin_name)):
            module.warn(
                "%s is exempt but still carries %s from an earlier run; remove it with "
                "state=absent if the unit should keep its own kill settings" % (name, dropin_name)
            )

    # 4. Work out the changes and verify every new drop-in before writing any.
    diffs = []
    analyze = None
    if state == "present" and params["verify"]:
        analyze = module.get_bin_path("systemd-analyze")
    final_plan = []
    failures = []
    for entry in plan:
        before = _read(entry["path"])
        after = entry["item"]["content"] if state == "present" else None
        if state == "present":
            action = "unchanged" if before == after else ("updated" if before is not None else "created")
        else:
            action = "removed" if before is not None else "absent"
        entry["action"] = action
        entry["before"] = before
        entry["after"] = after
        final_plan.append(entry)
        if action in ("created", "updated") and params["verify"] and state == "present":
            if analyze is None:
                failures.append(
                    "%s: systemd-analyze is needed to verify the drop-in; install it or set verify=false"
                    % entry["name"]
                )
                continue
            fragment = entry["props"].get("FragmentPath", "")
            added, with_rc, baseline_rc, with_lines = verify_dropin(
                analyze,
                entry["name"],
                fragment,
                entry["dropin_paths"],
                dropin_name,
                after,
                entry["path"],
            )
            if added or (with_rc != 0 and baseline_rc == 0):
                shown = added or with_lines or ["systemd-analyze verify exited with %d" % with_rc]
                failures.append(
                    "%s: systemd-analyze verify rejects the drop-in: %s" % (entry["name"], " | ".join(shown))
                )
    errors.extend(failures)
    if errors:
        module.fail_json(msg="Validation failed, nothing was changed: " + "; ".join(errors), errors=errors, **result)

    # 5. Apply.
    for entry in final_plan:
        action = entry["action"]
        result["units"].append(
            dict(
                name=entry["name"],
                path=entry["path"],
                action=action,
                kill_mode_before=entry["props"].get("KillMode", ""),
                active_state=entry["props"].get("ActiveState", ""),
            )
        )
        if action in ("unchanged", "absent"):
            continue
        result["changed_units"].append(entry["name"])
        diffs.append(
            dict(
                before=entry["before"] or "",
                after=entry["after"] or "",
                before_header=entry["path"] if entry["before"] is not None else "%s (absent)" % entry["path"],
                after_header=entry["path"] if entry["after"] is not None else "%s (absent)" % entry["path"],
            )
        )
        if module.check_mode:
            continue
        directory = os.path.dirname(entry["path"])
        try:
            if action == "removed":
                os.unlink(entry["path"])
                if not os.listdir(directory):
                    os.rmdir(directory)
                continue
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            tmp = os.path.join(directory, ".%s.tmp" % dropin_name)
            with open(tmp, "w") as handle:
                handle.write(entry["after"])
            os.chmod(tmp, 0o644)
            module.atomic_move(tmp, entry["path"])
        except (IOError, OSError) as exc:
            module.fail_json(
                msg="Writing %s failed: %s (changed so far: %s)"
                % (entry["path"], exc, ", ".join(result["changed_units"][:-1]) or "none"),
                **result,
            )
    result["changed"] = bool(result["changed_units"])
    if diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
