"""Starting and stopping real gdaqd processes for the tests. Binaries: $GDAQD_SERVER,
$GDAQD_WORKER and $GDAQD_CLI (ctest sets them), else <build>/server/gdaqd-server etc. with
<build> = $GDAQD_BUILD_DIR or <repository>/build."""

import dataclasses
import os
import signal
import subprocess
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


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def stop(process: subprocess.Popen):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_server(tmp: str, name: str, *flags: str):
    """Starts gdaqd-server on 127.0.0.1:0 with its state and log in `tmp`; returns (process,
    "127.0.0.1:PORT") once it has published its port. The caller stops it with stop()."""
    port_file = os.path.join(tmp, f"{name}.port")
    log_path = os.path.join(tmp, f"{name}.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [binary("GDAQD_SERVER", "server/gdaqd-server"), "--listen=127.0.0.1:0",
             f"--port_file={port_file}", f"--state_dir={os.path.join(tmp, name + '-state')}",
             *flags],
            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not os.path.exists(port_file):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"gdaqd-server did not publish its port:\n{tail(log_path)}")
        time.sleep(0.05)
    with open(port_file) as f:
        return process, f"127.0.0.1:{int(f.read())}"
