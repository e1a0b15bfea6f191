# zoo-survivor: runs with KillMode=process and is restarted as part of the story.
# Each invocation starts two children that keep running; a restart kills only the
# main process, so the previous invocation's children survive inside the cgroup.
# Ground truth is kept per invocation (zoo-survivor@<INVOCATION_ID>.json) and the
# latest one is also written to zoo-survivor.json. The unit runs it as the zoo user.
import os
import sys

import zoolib

NAME = "zoo-survivor"


def main():
    children = [zoolib.spawn_sleeper(), zoolib.spawn_double_forked_sleeper()]
    truth = {"main_pid": os.getpid(), "children": sorted(children)}
    invocation = os.environ.get("INVOCATION_ID", "none")
    zoolib.write_truth("%s@%s" % (NAME, invocation), truth)
    zoolib.write_truth(NAME, truth)
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
