"""Reads a results folder as `gdaqd run` and `gdaqd export` write it (client/results_folder.h):
config.textproto, status.textproto, metrics.csv, archive.csv and archive_params.npy."""

import dataclasses
import os
from typing import Optional

import numpy as np
import pandas as pd
from google.protobuf import text_format

from gdaqd.policy import Policy, PolicyLayout
from gdaqd.v1 import config_pb2, coordinator_pb2


@dataclasses.dataclass
class Results:
    """A results folder, loaded. `metrics`: one row per iteration (metrics.csv); `archive`: one
    row per elite, cell, centroid_*, descriptor_*, fitness (archive.csv); `params`: float32
    [len(archive), num_params], row i the policy of archive row i; `status` is None where the
    folder has no status.textproto."""

    path: str
    config: config_pb2.ExperimentConfig
    status: Optional[coordinator_pb2.ExperimentStatus]
    metrics: pd.DataFrame
    archive: pd.DataFrame
    params: np.ndarray

    @property
    def layout(self) -> PolicyLayout:
        return PolicyLayout.from_config(self.config)

    def policy(self, row: int) -> Policy:
        """The policy of archive row `row` (not cell: see archive.cell)."""
        return Policy(self.params[row], self.layout)

    def best(self) -> int:
        """The archive row of the fittest elite."""
        return int(self.archive["fitness"].to_numpy().argmax())


def _parse_text(path: str, message, allow_unknown: bool):
    with open(path) as f:
        text = f.read()
    try:
        # Unknown fields are tolerated in status.textproto only: a folder written by a newer
        # gdaqd stays readable.
        return text_format.Parse(text, message, allow_unknown_field=allow_unknown)
    except text_format.ParseError as e:
        raise ValueError(f"{path}: {e}") from None


def load_results(path) -> Results:
    """Loads the results folder at `path`. FileNotFoundError naming a missing file; ValueError
    naming the file if one is malformed or they disagree (row counts, parameter count of the
    config's policy)."""
    path = os.fspath(path)
    join = lambda name: os.path.join(path, name)  # noqa: E731
    config = _parse_text(join("config.textproto"), config_pb2.ExperimentConfig(), False)
    status = None
    if os.path.exists(join("status.textproto")):
        status = _parse_text(join("status.textproto"), coordinator_pb2.ExperimentStatus(), True)
    metrics = pd.read_csv(join("metrics.csv"), float_precision="round_trip")
    archive = pd.read_csv(join("archive.csv"), float_precision="round_trip")
    if list(archive.columns[:1]) != ["cell"] or list(archive.columns[-1:]) != ["fitness"]:
        raise ValueError(f"{join('archive.csv')}: columns {list(archive.columns)} are not "
                         "cell, centroid_*, descriptor_*, fitness")
    params = np.load(join("archive_params.npy"))
    if params.dtype != np.float32 or params.ndim != 2:
        raise ValueError(f"{join('archive_params.npy')}: expected float32 [elites, params], got "
                         f"{params.dtype} {list(params.shape)}")
    if params.shape[0] != len(archive):
        raise ValueError(f"{path}: archive_params.npy has {params.shape[0]} rows, archive.csv "
                         f"has {len(archive)}")
    results = Results(path, config, status, metrics, archive, params)
    try:
        expected = results.layout.num_params
    except ValueError:  # a task this client does not know: no check
        expected = params.shape[1]
    if params.shape[1] != expected:
        raise ValueError(f"{path}: archive_params.npy has {params.shape[1]} parameters per row, "
                         f"the config's policy has {expected}")
    return results
