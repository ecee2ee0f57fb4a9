"""A real coordinator (gdaqd-server) and one worker (gdaqd-worker) on 127.0.0.1, shared by the
tests of a session (processes.py says where the binaries come from)."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

# `import gdaqd` from the source tree (python/), whatever the working directory.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from processes import Cluster, binary, start_server, stop, tail  # noqa: E402


@pytest.fixture(scope="session")
def cluster():
    worker_bin = binary("GDAQD_WORKER", "worker/gdaqd-worker")
    cli = binary("GDAQD_CLI", "client/gdaqd")
    tmp = tempfile.mkdtemp(prefix="gdaqd-pytest-")
    processes = []
    try:
        server, address = start_server(tmp, "server")
        processes.append(server)
        with open(os.path.join(tmp, "worker.log"), "w") as log:
            processes.append(subprocess.Popen(
                [worker_bin, f"--coordinator={address}", "--threads=1"],
                stdout=log, stderr=subprocess.STDOUT))
        yield Cluster(address=address, tmp=tmp, cli=cli)
        for name, process in zip(("server", "worker"), processes):
            assert process.poll() is None, (
                f"gdaqd-{name} exited with {process.returncode} during the tests:\n"
                + tail(os.path.join(tmp, f"{name}.log")))
    finally:
        for process in reversed(processes):  # the worker first: it would reconnect otherwise
            stop(process)
        shutil.rmtree(tmp, ignore_errors=True)
