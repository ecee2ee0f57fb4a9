"""Reads a reproduction-study folder as `bench_reproduce` writes it (docs/benchmarks.md,
docs/reproduction/protocol.md): runs.csv, the report's CSVs where present, and each finished
run's results folder under runs/ (metrics.csv, archive.csv; the study leaves the policy
parameters out, so these are not `Results`)."""

import dataclasses
import os
from typing import Optional

import pandas as pd

# The report writes "-" for a number that does not exist and leaves untested tests empty.
_MISSING = ["-"]
# The report's CSVs, by attribute name.
_REPORTS = {
    "table1": "table1.csv",
    "schedule_arm": "schedule_arm.csv",
    "rl_rows": "rl_rows.csv",
    "rl_map_elites_reference": "rl_map_elites_reference.csv",
}


@dataclasses.dataclass
class Study:
    """A study folder, loaded. `runs`: runs.csv, one row per planned run (state, evaluations,
    commit, ...). `metrics`: every finished run's metrics.csv, stacked, with the run's `run`,
    `task`, `algorithm`, `schedule` and `seed` in front; `archives` likewise for archive.csv,
    and `sittings` for sittings.csv (each sitting's span as UTC timestamps, the budget used at
    both ends, the runs beside it as a space-separated string), of the runs that have one.
    The report's CSVs (`table1`, `schedule_arm`, `rl_rows`, `rl_map_elites_reference`) are None
    where the folder has none (a grid whose report has not been written). Missing numbers are
    NaN."""

    path: str
    runs: pd.DataFrame
    metrics: pd.DataFrame
    archives: pd.DataFrame
    table1: Optional[pd.DataFrame] = None
    schedule_arm: Optional[pd.DataFrame] = None
    rl_rows: Optional[pd.DataFrame] = None
    rl_map_elites_reference: Optional[pd.DataFrame] = None
    sittings: Optional[pd.DataFrame] = None

    def finished(self) -> pd.DataFrame:
        """The rows of `runs` whose run SUCCEEDED and whose results folder is present."""
        present = self.runs["run"].map(
            lambda name: os.path.isdir(os.path.join(self.path, "runs", name)))
        return self.runs[(self.runs["state"] == "SUCCEEDED") & present]


def _read_csv(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, na_values=_MISSING, keep_default_na=True,
                           float_precision="round_trip", dtype={"schedule": str, "commit": str})
    except pd.errors.ParserError as e:
        raise ValueError(f"{path}: {e}") from None


def _stack(path: str, finished: pd.DataFrame, file: str, optional: bool = False) -> pd.DataFrame:
    keys = ["run", "task", "algorithm", "schedule", "seed"]
    frames = []
    for _, row in finished.iterrows():
        run_file = os.path.join(path, "runs", row["run"], file)
        if optional and not os.path.exists(run_file):
            continue
        frame = _read_csv(run_file)
        for i, key in enumerate(keys):
            frame.insert(i, key, row[key])
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=keys)
    return pd.concat(frames, ignore_index=True)


def load_study(path) -> Study:
    """Loads the study folder at `path` (e.g. docs/reproduction/study-es). FileNotFoundError
    naming runs.csv, or a finished run's metrics.csv or archive.csv, if missing; ValueError
    naming the file if one is malformed or runs.csv lacks its columns."""
    path = os.fspath(path)
    runs_path = os.path.join(path, "runs.csv")
    runs = _read_csv(runs_path)
    required = {"run", "task", "algorithm", "schedule", "seed", "state"}
    if not required.issubset(runs.columns):
        raise ValueError(f"{runs_path}: columns {list(runs.columns)} lack "
                         f"{sorted(required - set(runs.columns))}")
    runs["schedule"] = runs["schedule"].fillna("")
    study = Study(path, runs, pd.DataFrame(), pd.DataFrame())
    finished = study.finished()
    study.metrics = _stack(path, finished, "metrics.csv")
    study.archives = _stack(path, finished, "archive.csv")
    study.sittings = _stack(path, finished, "sittings.csv", optional=True)
    for column in ("started", "ended"):
        if column in study.sittings:
            study.sittings[column] = pd.to_datetime(study.sittings[column], utc=True)
    if "beside" in study.sittings:
        study.sittings["beside"] = study.sittings["beside"].fillna("")
    for attribute, file in _REPORTS.items():
        report = os.path.join(path, file)
        if os.path.exists(report):
            setattr(study, attribute, _read_csv(report))
    return study
