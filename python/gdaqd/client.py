"""A Python client of the coordinator's ExperimentService (proto/gdaqd/v1/coordinator.proto)."""

import dataclasses
import os
import pathlib
from typing import Iterator, List, Optional, Tuple, Union

import grpc
import numpy as np
import pandas as pd
from google.protobuf import json_format, text_format

from gdaqd.v1 import config_pb2, coordinator_pb2, coordinator_pb2_grpc

# As the C++ client (common/grpc_status.h): exports of large archives need more than gRPC's 4 MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
FINAL_STATES = (coordinator_pb2.SUCCEEDED, coordinator_pb2.FAILED, coordinator_pb2.CANCELLED)


class GdaqdError(Exception):
    """A failed call: `code` is the grpc.StatusCode, `code_name` its name ("NOT_FOUND"),
    `details` the coordinator's message. str() is "CODE: message", as the gdaqd CLI prints."""

    def __init__(self, code: grpc.StatusCode, details: str):
        self.code = code
        self.code_name = code.name
        self.details = details
        super().__init__(f"{self.code_name}: {details}")


class ConfigError(GdaqdError, ValueError):
    """A config the client could not turn into an ExperimentConfig (unknown field, wrong type,
    text format syntax). Code INVALID_ARGUMENT, like the coordinator's own validation errors."""

    def __init__(self, details: str):
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, details)


def _rpc_error(error: grpc.RpcError) -> GdaqdError:
    return GdaqdError(error.code(), error.details() or "")


@dataclasses.dataclass(frozen=True)
class Tls:
    """TLS towards a coordinator started with --tls_cert (docs/cluster.md §1): `ca` verifies the
    server; `server_name` overrides the name checked in its certificate; `cert` and `key` are a
    client certificate for a server started with --tls_client_ca. All are file paths."""

    ca: str
    server_name: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def parse_config(config) -> config_pb2.ExperimentConfig:
    """An ExperimentConfig from a message, a dict (proto field names, enums by name), a text
    format string, or a pathlib.Path / "*.textproto" path of a text format file. ConfigError
    naming the offending field otherwise. Defaults are applied by the coordinator, not here."""
    if isinstance(config, config_pb2.ExperimentConfig):
        return config
    message = config_pb2.ExperimentConfig()
    try:
        if isinstance(config, dict):
            return json_format.ParseDict(config, message)
        if isinstance(config, pathlib.PurePath) or (
            isinstance(config, str) and config.endswith(".textproto") and os.path.isfile(config)
        ):
            config = pathlib.Path(config).read_text()
        if isinstance(config, str):
            return text_format.Parse(config, message)
    except (json_format.ParseError, text_format.ParseError) as e:
        # json_format appends the message's fields in JSON (camelCase) spelling: left out.
        raise ConfigError(f"invalid experiment config: {str(e).splitlines()[0]}") from None
    raise TypeError(
        f"config must be an ExperimentConfig, a dict, a text format string or a path, "
        f"not {type(config).__name__}"
    )


@dataclasses.dataclass
class Archive:
    """Everything ExportArchive streams. `elites` has one row per elite in ascending cell order:
    cell, centroid_0.., descriptor_0.., fitness (the columns of archive.csv); `params` is float32
    [len(elites), num_params], row i the policy of elites row i; `history` has one row per
    iteration with the ProgressSnapshot fields."""

    status: coordinator_pb2.ExperimentStatus
    descriptor_dim: int
    num_cells: int
    num_params: int
    descriptor_low: np.ndarray
    descriptor_high: np.ndarray
    cells_per_dim: List[int]
    history: pd.DataFrame
    elites: pd.DataFrame
    params: np.ndarray


def snapshot_dict(snapshot: coordinator_pb2.ProgressSnapshot) -> dict:
    """A ProgressSnapshot as {field: value}, every scalar field present (zeros and NaNs
    included), then the algorithm's named metrics (`metrics`, docs/metrics.md) as {name: value};
    a named metric overrides the deprecated fixed field of the same name."""
    out = {f.name: getattr(snapshot, f.name) for f in snapshot.DESCRIPTOR.fields
           if f.name != "metrics"}
    out.update((m.name, m.value) for m in snapshot.metrics)
    return out


def history_frame(history) -> pd.DataFrame:
    """ProgressSnapshots as a DataFrame: one row per snapshot, the scalar fields' columns in
    field order, then one column per named metric not among them, in order of first appearance
    (NaN in rows without it)."""
    columns = [f.name for f in coordinator_pb2.ProgressSnapshot.DESCRIPTOR.fields
               if f.name != "metrics"]
    rows = [snapshot_dict(s) for s in history]
    for row in rows:
        columns.extend(name for name in row if name not in columns)
    return pd.DataFrame(rows, columns=columns)


def _elites_frame(elites, descriptor_dim: int) -> pd.DataFrame:
    columns = {"cell": np.array([e.cell for e in elites], dtype=np.int64)}
    for name, field in (("centroid", "centroid"), ("descriptor", "behavior_descriptor")):
        values = np.array([list(getattr(e, field)) for e in elites], dtype=np.float32)
        values = values.reshape(len(elites), descriptor_dim)
        for i in range(descriptor_dim):
            columns[f"{name}_{i}"] = values[:, i]
    columns["fitness"] = np.array([e.fitness for e in elites], dtype=np.float32)
    return pd.DataFrame(columns)


class Client:
    """Submits, watches, lists, cancels, deletes and exports experiments of a coordinator
    (`gdaqd-server`). Every failed call raises GdaqdError with the gRPC status code and the
    coordinator's message. Thread-safe (gRPC channels are); use as a context manager or close().

    Client("127.0.0.1:50051")                              # plaintext, loopback
    Client("host:50051", token="...", tls=Tls(ca="certs/ca.pem"))
    """

    def __init__(
        self,
        address: str,
        token: Optional[str] = None,
        tls: Union[None, str, Tls] = None,
        connect_timeout: float = 10.0,
        timeout: float = 30.0,
    ):
        """`token`: the bearer token (docs/cluster.md §1), sent on every call. `tls`: None for
        plaintext, a CA path, or a Tls. GdaqdError UNAVAILABLE, naming the address, if the
        coordinator cannot be reached within `connect_timeout` seconds (also when the TLS
        handshake fails). `timeout` bounds every unary call; watch() has none, export() 10 min."""
        self.address = address
        self._timeout = timeout
        self._metadata = (("authorization", f"Bearer {token.strip()}"),) if token else ()
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if tls is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            if isinstance(tls, (str, os.PathLike)):
                tls = Tls(ca=os.fspath(tls))
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(tls.ca),
                private_key=_read(tls.key) if tls.key else None,
                certificate_chain=_read(tls.cert) if tls.cert else None,
            )
            self._channel = grpc.secure_channel(address, credentials, options=options)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=connect_timeout)
        except grpc.FutureTimeoutError:
            self._channel.close()
            raise GdaqdError(
                grpc.StatusCode.UNAVAILABLE,
                f"cannot reach the coordinator at {address} within {connect_timeout:g}s",
            ) from None
        self._stub = coordinator_pb2_grpc.ExperimentServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _unary(self, method, request, timeout=None):
        try:
            return method(request, timeout=timeout or self._timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise _rpc_error(e) from None

    def submit(self, config) -> str:
        """Submits an experiment (see parse_config for what `config` may be); returns its id,
        e.g. "exp-1". ConfigError / GdaqdError INVALID_ARGUMENT naming the field if it is
        invalid, RESOURCE_EXHAUSTED if the coordinator cannot hold it."""
        request = coordinator_pb2.SubmitExperimentRequest(config=parse_config(config))
        return self._unary(self._stub.SubmitExperiment, request).id

    def status(self, id: Optional[str] = None):
        """The ExperimentStatus of `id` (NOT_FOUND if there is none), or with no id a list of
        every experiment's, ascending id."""
        if id is not None:
            request = coordinator_pb2.GetExperimentRequest(id=id)
            return self._unary(self._stub.GetExperiment, request)
        out, token = [], ""
        while True:
            page = self._unary(
                self._stub.ListExperiments,
                coordinator_pb2.ListExperimentsRequest(page_size=1000, page_token=token),
            )
            out.extend(page.experiments)
            token = page.next_page_token
            if not token:
                return out

    def watch(self, id: str) -> Iterator[coordinator_pb2.ExperimentStatus]:
        """Yields the experiment's ExperimentStatus now and after every iteration (`.state`,
        `.progress`: a ProgressSnapshot), ending after the final state (SUCCEEDED, FAILED or
        CANCELLED). No deadline; closing the iterator early cancels the stream."""
        call = self._stub.WatchExperiment(
            coordinator_pb2.WatchExperimentRequest(id=id), metadata=self._metadata
        )
        try:
            for status in call:
                yield status
        except grpc.RpcError as e:
            raise _rpc_error(e) from None
        finally:
            call.cancel()

    def wait(self, id: str) -> coordinator_pb2.ExperimentStatus:
        """Watches until the experiment is final; returns its last status."""
        last = None
        for last in self.watch(id):
            pass
        return last

    def cancel(self, id: str) -> coordinator_pb2.ExperimentStatus:
        """Cancels the experiment; returns its status."""
        request = coordinator_pb2.CancelExperimentRequest(id=id)
        return self._unary(self._stub.CancelExperiment, request).status

    def delete(self, id: str) -> None:
        """Removes a finished experiment for good (FAILED_PRECONDITION while it runs)."""
        self._unary(self._stub.DeleteExperiment, coordinator_pb2.DeleteExperimentRequest(id=id))

    def export_archive(self, id: str, timeout: float = 600.0) -> Archive:
        """The whole archive and history of the experiment (also while it runs: what it holds
        now)."""
        call = self._stub.ExportArchive(
            coordinator_pb2.ExportArchiveRequest(id=id), timeout=timeout, metadata=self._metadata
        )
        header, history, elites = None, [], []
        try:
            for item in call:
                kind = item.WhichOneof("item")
                if kind == "header":
                    header = item.header
                elif kind == "history":
                    history.extend(item.history.rows)
                elif kind == "elite":
                    elites.append(item.elite)
        except grpc.RpcError as e:
            raise _rpc_error(e) from None
        if header is None:
            raise GdaqdError(grpc.StatusCode.DATA_LOSS, f"export of {id} sent no header")
        return self._archive(header, history, elites)

    @staticmethod
    def _archive(header, history, elites) -> Archive:
        dim, num_params = max(1, header.descriptor_dim), header.num_params
        params = np.empty((len(elites), num_params), dtype=np.float32)
        for i, elite in enumerate(elites):
            row = np.frombuffer(elite.params, dtype="<f4")
            if row.size != num_params:
                raise GdaqdError(
                    grpc.StatusCode.DATA_LOSS,
                    f"elite of cell {elite.cell} has {row.size} parameters, header says "
                    f"{num_params}",
                )
            params[i] = row
        return Archive(
            status=header.status,
            descriptor_dim=header.descriptor_dim,
            num_cells=header.num_cells,
            num_params=num_params,
            descriptor_low=np.array(header.descriptor_low, dtype=np.float32),
            descriptor_high=np.array(header.descriptor_high, dtype=np.float32),
            cells_per_dim=list(header.cells_per_dim),
            history=history_frame(history),
            elites=_elites_frame(elites, dim),
            params=params,
        )

    def export(self, id: str) -> Tuple[pd.DataFrame, np.ndarray]:
        """(elites, params): one DataFrame row per elite (cell, centroid_*, descriptor_*,
        fitness; ascending cell) and float32 [n, num_params], row i the policy of row i."""
        archive = self.export_archive(id)
        return archive.elites, archive.params
