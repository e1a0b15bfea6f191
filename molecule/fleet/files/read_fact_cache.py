# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the reaper facts the audit left in a jsonfile fact cache, as plain JSON: {host: facts}.

ansible-core 2.19 stores cached facts with their data tags (origins, trust) in its own wrapped
format, which from_json cannot read back. Reading them through Ansible's own jsonfile cache plugin
gives exactly what a later play would see as hostvars[host].reaper.

    python3 read_fact_cache.py CACHE_DIR HOST [HOST ...]
"""

import json
import sys

from ansible.plugins.loader import cache_loader, init_plugin_loader


def main(cache_dir, hosts):
    init_plugin_loader()
    cache = cache_loader.get("ansible.builtin.jsonfile", _uri=cache_dir, _prefix="", _timeout=0)
    cached = set(cache.keys())
    missing = [host for host in hosts if host not in cached]
    if missing:
        sys.exit("no cached facts for %s in %s" % (", ".join(missing), cache_dir))
    json.dump({host: cache.get(host)["reaper"] for host in hosts}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
