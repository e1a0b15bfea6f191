# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

``ansible-test sanity --venv`` bootstraps pip into every virtual environment it
creates with a get-pip.py script fetched from a host that build machines may not
reach. It looks for a cached copy first, at
``~/.ansible/test/cache/get_pip_<pip version with _>.py``; ``make sanity`` installs
this file there.

It bootstraps the pip bundled with the running Python (ensurepip), then installs
the requested packages (for example ``pip==24.2``) with that pip, through the
machine's normal pip configuration (index, proxy, certificates).
"""

import ensurepip
import os
import subprocess
import sys

# Options only get-pip.py understands; `pip install` rejects them.
GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def main():
    """Bootstrap pip, then install what ansible-test asked get-pip.py for."""
    ensurepip.bootstrap()
    # ensurepip points PIP_CONFIG_FILE at os.devnull for its own install; that would
    # hide the machine's pip configuration from the install below.
    os.environ.pop("PIP_CONFIG_FILE", None)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    command = [sys.executable, "-m", "pip", "install"] + args
    sys.exit(subprocess.call(command))


if __name__ == "__main__":
    main()
