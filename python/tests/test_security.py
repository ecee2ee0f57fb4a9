"""Client(token=..., tls=...) against a coordinator started with TLS (certificates from
scripts/make-certs.sh) and a tokens file (docs/cluster.md §1). No worker is needed."""

import os
import shutil
import subprocess
import tempfile

import grpc
import pytest

import gdaqd
from processes import REPO, start_server, stop

READER = "tok-reader-alice-0123456789abc"
SUBMITTER = "tok-submitter-bob-0123456789ab"
SERVER_NAME = "gdaqd.test"  # the certificate's only name: reaching 127.0.0.1 needs the override
CONFIG = {"env": {"task": "point_maze"}, "budget": {"max_evaluations": 1000}}


@pytest.fixture(scope="module")
def secured():
    tmp = tempfile.mkdtemp(prefix="gdaqd-pytest-tls-")
    server = None
    try:
        certs = os.path.join(tmp, "certs")
        subprocess.run(["bash", os.path.join(REPO, "scripts", "make-certs.sh"), certs,
                        "--san", f"DNS:{SERVER_NAME}", "--workers", "0"],
                       check=True, capture_output=True, timeout=60)
        tokens = os.path.join(tmp, "tokens.txt")
        with open(tokens, "w") as f:
            f.write(f"{READER} reader alice\n{SUBMITTER} submitter bob\n")
        server, address = start_server(
            tmp, "tls-server", f"--tls_cert={certs}/server.pem", f"--tls_key={certs}/server.key",
            f"--tokens_file={tokens}")
        yield address, gdaqd.Tls(ca=os.path.join(certs, "ca.pem"), server_name=SERVER_NAME)
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


def test_roles_decide_what_a_token_may_do(secured):
    address, tls = secured
    with gdaqd.Client(address, token=SUBMITTER, tls=tls) as submitter:
        exp_id = submitter.submit(CONFIG)
        assert submitter.status(exp_id).submitted_by == "bob"
        with gdaqd.Client(address, token=READER, tls=tls) as reader:
            assert reader.status(exp_id).id == exp_id
            with pytest.raises(gdaqd.GdaqdError) as error:
                reader.submit(CONFIG)
            assert error.value.code == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(gdaqd.GdaqdError) as error:
                reader.cancel(exp_id)
            assert error.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert submitter.cancel(exp_id).id == exp_id


@pytest.mark.parametrize("token", [None, "tok-unknown-0123456789abcdefgh"])
def test_missing_or_unknown_token_is_unauthenticated(secured, token):
    address, tls = secured
    with gdaqd.Client(address, token=token, tls=tls) as client:
        with pytest.raises(gdaqd.GdaqdError) as error:
            client.status()
        assert error.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_plaintext_or_wrong_server_name_cannot_connect(secured):
    address, tls = secured
    with pytest.raises(gdaqd.GdaqdError) as error:
        gdaqd.Client(address, token=READER, connect_timeout=1)
    assert error.value.code == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(gdaqd.GdaqdError) as error:
        gdaqd.Client(address, token=READER, tls=tls.ca, connect_timeout=1)  # checks "127.0.0.1"
    assert error.value.code == grpc.StatusCode.UNAVAILABLE
