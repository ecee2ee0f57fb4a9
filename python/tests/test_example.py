"""examples/python_quickstart.py runs end to end against the test cluster and writes its PNG."""

import os
import subprocess
import sys

from processes import REPO


def test_quickstart_submits_watches_exports_and_plots(cluster):
    png = os.path.join(cluster.tmp, "quickstart.png")
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", "python_quickstart.py"),
         f"--coordinator={cluster.address}", "--budget=300", f"--out={png}"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCEEDED" in result.stdout and "evals     300/300" in result.stdout
    assert "params: float32 (" in result.stdout and "best elite: cell" in result.stdout
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
