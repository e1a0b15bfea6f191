"""The modules and module_utils of the installed collection compile, and module_utils imports the way
the cleanup timer runs it (stdlib only), with the Python of every lab image."""

import pytest

from conftest import keep, run

LAB_TAGS = ('bookworm', 'trixie', 'bookworm-nopsutil')

# Run inside the image: compile every module and module_utils file, then import every module_utils
# file as the package `reaper_systemd` (what the cleanup_timer role installs on a host).
PROBE = r'''
import glob, importlib, os, shutil, sys, tempfile
root = "/collection/plugins"
files = sorted(glob.glob(root + "/modules/*.py") + glob.glob(root + "/module_utils/*.py"))
for path in files:
    with open(path) as source:
        compile(source.read(), path, "exec")
package = os.path.join(tempfile.mkdtemp(), "reaper_systemd")
shutil.copytree(root + "/module_utils", package)
open(os.path.join(package, "__init__.py"), "w").close()
sys.path.insert(0, os.path.dirname(package))
names = sorted(os.path.basename(p)[:-3] for p in glob.glob(package + "/*.py") if not p.endswith("__init__.py"))
for name in names:
    importlib.import_module("reaper_systemd." + name)
print("python %d.%d: compiled %d files, imported %d module_utils" % (sys.version_info[:2] + (len(files), len(names))))
'''


@pytest.mark.parametrize('tag', LAB_TAGS)
def test_compiles_and_imports_under_the_lab_python(installed, user_env, tag):
    out = run(['podman', 'run', '--rm', '--network', 'none', '-v', '%s:/collection:ro' % installed,
               'localhost/reaper-lab:%s' % tag, 'python3', '-I', '-B', '-c', PROBE], env=user_env).stdout  # fmt: skip
    keep('python-%s.txt' % tag, out)
    modules = len(list((installed / 'plugins' / 'modules').glob('*.py')))
    utils = len(list((installed / 'plugins' / 'module_utils').glob('*.py')))
    assert 'compiled %d files, imported %d module_utils' % (modules + utils, utils) in out
