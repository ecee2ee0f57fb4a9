"""A real coordinator (gdaqd-server) and one worker (gdaqd-worker) on 127.0.0.1, shared by the
tests of a session. Binaries: $GDAQD_SERVER, $GDAQD_WORKER and $GDAQD_CLI (ctest sets them), else
<build>/server/gdaqd-server etc. with <build> = $GDAQD_BUILD_DIR or <repository>/build."""

import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GDAQD_BUILD_DIR", os.path.join(REPO, "build"))
START_TIMEOUT_S = 30


def binary(env_name: str, relative: str) -> str:
    path = os.environ.get(env_name) or os.path.join(BUILD, relative)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found: build it (cmake --build build --target "
                    f"{os.path.basename(relative)}) or set ${env_name}")
    return path


@dataclasses.dataclass
class Cluster:
    address: str
    tmp: str   # a scratch folder the tests may write into; removed at the end
    cli: str   # the gdaqd command-line client


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _stop(process: subprocess.Popen):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def cluster():
    server_bin = binary("GDAQD_SERVER", "server/gdaqd-server")
    worker_bin = binary("GDAQD_WORKER", "worker/gdaqd-worker")
    cli = binary("GDAQD_CLI", "client/gdaqd")
    tmp = tempfile.mkdtemp(prefix="gdaqd-pytest-")
    port_file = os.path.join(tmp, "port")
    processes = []
    try:
        with open(os.path.join(tmp, "server.log"), "w") as log:
            processes.append(subprocess.Popen(
                [server_bin, "--listen=127.0.0.1:0", f"--port_file={port_file}",
                 f"--state_dir={os.path.join(tmp, 'state')}"],
                stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(port_file):
            if processes[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail("gdaqd-server did not publish its port:\n"
                            + _tail(os.path.join(tmp, "server.log")))
            time.sleep(0.05)
        with open(port_file) as f:
            address = f"127.0.0.1:{int(f.read())}"
        with open(os.path.join(tmp, "worker.log"), "w") as log:
            processes.append(subprocess.Popen(
                [worker_bin, f"--coordinator={address}", "--threads=1"],
                stdout=log, stderr=subprocess.STDOUT))
        yield Cluster(address=address, tmp=tmp, cli=cli)
        for name, process in zip(("server", "worker"), processes):
            assert process.poll() is None, (
                f"gdaqd-{name} exited with {process.returncode} during the tests:\n"
                + _tail(os.path.join(tmp, f"{name}.log")))
    finally:
        for process in reversed(processes):  # the worker first: it would reconnect otherwise
            _stop(process)
        shutil.rmtree(tmp, ignore_errors=True)
