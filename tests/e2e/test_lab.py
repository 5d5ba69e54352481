"""The lab's own machinery, where it broke for a user."""

import ctypes
import os
import subprocess
import sys

from vdsm_hosted_engine.lab.sanlock_daemon import setrlimit_shim

BUILD = "from vdsm_hosted_engine.lab.sanlock_daemon import setrlimit_shim; import sys; setrlimit_shim(sys.argv[1])"


def test_hosts_booting_at_once_on_a_fresh_machine_all_get_the_setrlimit_shim(tmp_path):
    """Given a fresh machine (no shim built yet),
    when several lab hosts boot at the same instant, each in its own pid namespace (where every one of
    them has the same pid), and each builds the shim into the same cache folder,
    then every build succeeds and leaves one loadable library (the first `make demo` failed: all wrote
    the same `...so.<pid>.tmp` and one renamed it away under the others)."""
    cache = str(tmp_path / "cache")
    builds = [
        subprocess.Popen(
            ["unshare", "--mount", "--pid", "--fork", "--mount-proc", sys.executable, "-c", BUILD, cache],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [(b.wait(60), b.stderr.read()) for b in builds]
    assert all(rc == 0 for rc, _ in errors), errors
    library = setrlimit_shim(cache)  # built already: found, not rebuilt
    assert sorted(os.listdir(cache)) == [os.path.basename(library)]
    ctypes.CDLL(library)
