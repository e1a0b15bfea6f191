# zoo-threads (control): a busy multi-threaded service (8 worker threads doing
# short bursts of work). Threads are not processes: no zombie, no leak.
import hashlib
import os
import sys
import threading
import time

import zoolib

NAME = "zoo-threads"
THREADS = int(os.environ.get("ZOO_THREADS", "8"))


def burn(stop):
    data = b"reaper" * 1024
    while not stop.is_set():
        until = time.monotonic() + 0.002
        while time.monotonic() < until:
            data = hashlib.sha256(data).digest() * 64
        time.sleep(0.1)


def thread_count():
    with open("/proc/self/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def main():
    stop = threading.Event()
    for index in range(THREADS):
        threading.Thread(target=burn, args=(stop,), name="burn-%d" % index, daemon=True).start()
    zoolib.write_truth(NAME, {"main_pid": os.getpid(), "threads": thread_count()})
    zoolib.sleep_forever()


if __name__ == "__main__":
    sys.exit(main())
