# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fleet benchmark measurement, in a process of its own (so its peak RSS is its own).

Loads an inventory of N simulated hosts, puts into the controller's variables exactly what the audit's
scan play leaves there for each host (as Ansible's strategy stores a result: the module's
ansible_facts in the host's facts, the registered result as a deep copy, the set_fact result as a
third object), then runs the audit's report plays with Ansible's own PlaybookExecutor and prints
one JSON line: wall and CPU time of the report plays, peak RSS before and after them.

    python3 controller.py HOSTS after|before FACTS.json REPORT_DIR
"""

import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def cpu_s():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    hosts, mode, facts_path, report_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(REPO, "build", "collections")
    os.environ.setdefault("ANSIBLE_FORCE_COLOR", "0")

    from ansible import context
    from ansible.module_utils.common.collections import ImmutableDict

    context.CLIARGS = ImmutableDict(
        connection="local",
        module_path=None,
        forks=5,
        become=None,
        become_method=None,
        become_user=None,
        check=False,
        diff=False,
        verbosity=0,
        syntax=None,
        start_at_task=None,
        listhosts=None,
        listtasks=None,
        listtags=None,
        tags=("all",),
        skip_tags=(),
        extra_vars=("reaper_report_dir=%s" % report_dir,),
        inventory=None,
        subset=None,
    )
    from ansible.executor.playbook_executor import PlaybookExecutor
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.vars.clean import module_response_deepcopy

    init_plugin_loader([os.environ["ANSIBLE_COLLECTIONS_PATH"]])
    from ansible.vars.manager import VariableManager

    sys.path.insert(0, os.path.join(REPO, "build", "collections"))
    from ansible_collections.reaper.systemd.plugins.filter.report import reaper_host_result

    inventory_path = os.path.join(os.path.dirname(report_dir), "fleet-%d.ini" % hosts)
    with open(inventory_path, "w") as handle:
        handle.write("[fleet]\n" + "".join("host%05d\n" % i for i in range(hosts)))
        handle.write("[fleet:vars]\nansible_connection=local\n")
    with open(facts_path, encoding="utf-8") as handle:
        recorded = handle.read()

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[inventory_path])
    variables = VariableManager(loader=loader, inventory=inventory)
    names = ["host%05d" % i for i in range(hosts)]
    start = time.monotonic()
    for name in names:
        # each result reaches the controller as its own object (unpickled from a worker)
        result = {"changed": False, "ansible_facts": {"reaper": json.loads(recorded)}}
        variables.set_host_facts(name, result["ansible_facts"].copy())
        registered = module_response_deepcopy(result)
        if mode == "after":
            kept = reaper_host_result(json.loads(json.dumps(registered)))
            variables.set_nonpersistent_facts(name, {"__reaper_audit_scan": registered})
            variables.set_nonpersistent_facts(name, {"reaper_audit": kept, "__reaper_audit_scan": None})
            # set_fact cacheable: the trimmed facts replace the scan in the host's facts (and are a variable)
            trimmed = json.loads(json.dumps(kept["facts"]))
            variables.set_host_facts(name, {"reaper": trimmed})
            variables.set_nonpersistent_facts(name, {"reaper": trimmed})
        else:
            kept = {"status": "ok", "message": "", "facts": json.loads(recorded)}
            variables.set_nonpersistent_facts(name, {"__reaper_audit_scan": registered})
            variables.set_nonpersistent_facts(name, {"reaper_audit": kept})
        del result, registered, kept
    variables.set_nonpersistent_facts("localhost", {"reaper_audit_hosts": names})
    setup_s = time.monotonic() - start
    rss_before = maxrss_mb()

    playbook = os.path.join(HERE, "report.yml")
    executor = PlaybookExecutor(
        playbooks=[playbook], inventory=inventory, variable_manager=variables, loader=loader, passwords={}
    )
    cpu0 = cpu_s()
    start = time.monotonic()
    rc = executor.run()
    wall = time.monotonic() - start
    cpu = cpu_s() - cpu0
    with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as handle:
        written = json.load(handle)
    line = {
        "hosts": hosts,
        "mode": mode,
        "rc": rc,
        "setup_s": setup_s,
        "report_wall_s": wall,
        "report_cpu_s": cpu,
        "rss_before_report_mb": rss_before,
        "peak_rss_mb": maxrss_mb(),
        "report_hosts": written["totals"]["hosts"],
        "report_json_mb": os.path.getsize(os.path.join(report_dir, "report.json")) / 2**20,
        "report_html_mb": os.path.getsize(os.path.join(report_dir, "report.html")) / 2**20,
    }
    sys.stderr.write("BENCH " + json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
