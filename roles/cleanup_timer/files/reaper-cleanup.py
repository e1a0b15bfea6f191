# Launcher of the reaper.systemd cleanup command (run as: python3 -I -B this-file).
# Installed by the reaper.systemd.cleanup_timer role; local changes are overwritten.
#
# It lives in a release directory next to the package and is run through the symlinks
# /usr/local/lib/reaper-systemd/reaper-cleanup.py -> current/reaper-cleanup.py. The real
# path is resolved once, here: every module of this run comes from the same release even
# if `current` is switched to another one while it runs.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from reaper_systemd.cleanup_command import main

sys.exit(main())
