"""`make demo` (the README's main command) runs to the end: deploy, join, crash, the Engine back."""

import re
import subprocess
import sys


def test_demo_deploys_crashes_and_brings_the_engine_back(lab):  # after the session lab: one at a time
    result = subprocess.run(
        [sys.executable, "-m", "vdsm_hosted_engine.cli.lab", "demo"], capture_output=True, text=True, timeout=600
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "host1: hosted-engine --deploy" in out and "Handing the Engine VM to HA" in out
    assert re.search(r"host2: hosted-engine --deploy --join -> host id \d+", out)
    assert "--== Host host1 (id: 1) status ==--" in out
    back = re.search(r"the Engine is healthy on (host\d) (\d+\.\d) s after the crash", out)
    assert back and back.group(1) != "host1", out
    assert float(back.group(2)) >= 66
    assert "boot records on the Engine disk: [1, 2]" in out
    assert "teardown: deleted bridge hedemo" in out
