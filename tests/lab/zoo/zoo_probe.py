# zoo-probe: print what /proc says about the given PIDs as JSON (state, parent,
# session, comm, cgroup lines, INVOCATION_ID). The verify playbooks use it as an
# independent ground check and to show the evidence when an assertion fails.
import json
import sys

import zoolib


def invocation_id(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            for item in handle.read().split(b"\0"):
                if item.startswith(b"INVOCATION_ID="):
                    return item.split(b"=", 1)[1].decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError as exc:
        return "unreadable: %s" % exc
    return None


def probe(pid):
    stat = zoolib.read_stat(pid)
    if stat is None:
        return {"exists": False}
    return {
        "exists": True,
        "stat": stat,
        "cgroup": zoolib.cgroup_lines(pid),
        "invocation_id": invocation_id(pid),
    }


def main(argv):
    result = {str(int(pid)): probe(int(pid)) for pid in argv}
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
