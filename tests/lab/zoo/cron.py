# cron (stand-in for Debian's cron.service, which sets KillMode=process on purpose):
# every invocation starts one long "job" that runs as the zoo user. The job is meant
# to outlive a restart of cron: after the story's restart, the first invocation's job
# is a real restart survivor that the cleanup must report and never kill.
# Ground truth per invocation (cron@<INVOCATION_ID>.json) and the latest in cron.json.
import os
import sys

import zoolib

NAME = "cron"
USER = os.environ.get("ZOO_CRON_USER", "zoo")


def start_job(user):
    pid = zoolib.fork_sleeper_as(user)
    zoolib.wait_for_exec(pid, "sleep")
    return pid


def main():
    truth = {"main_pid": os.getpid(), "jobs": [start_job(USER)]}
    zoolib.write_truth("%s@%s" % (NAME, os.environ.get("INVOCATION_ID", "none")), truth)
    zoolib.write_truth(NAME, truth)
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
