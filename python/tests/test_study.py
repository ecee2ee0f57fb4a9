"""gdaqd.load_study on a study folder as bench_reproduce writes it (no coordinator needed)."""

import math

import pytest

import gdaqd

RUNS = (
    "run,task,algorithm,schedule,seed,budget,state,evaluations,wall_seconds,qd_score_pct,"
    "experiment_id,commit,error\n"
    "point_maze_map_elites_s0,point_maze,MAP_ELITES,,0,200,SUCCEEDED,200,1.5,10.5,,0123abc,\n"
    "point_maze_gda_qd_s0,point_maze,GDA_QD,,0,200,SUCCEEDED,200,2.5,20.5,,0123abc,\n"
    "point_maze_gda_qd_s1,point_maze,GDA_QD,,1,200,RUNNING,100,1.0,12.0,exp-3,0123abc,\n"
    "point_maze_map_elites_s1,point_maze,MAP_ELITES,,1,200,SUCCEEDED,200,1.5,11.0,,0123abc,\n"
)
METRICS = "iteration,evaluations,qd_score_pct,max_fitness\n1,100,{a},-300\n2,200,{b},-250\n"
ARCHIVE = "cell,centroid_0,descriptor_0,fitness\n3,0.5,0.49,-250\n"
TABLE1 = ("task,algorithm,qd_score_pct_median,evaluations_to_target_median,u_evals,p_evals\n"
          "point_maze,MAP_ELITES,10.5,200,,\n"
          "point_maze,GDA_QD,-,censored,4,0.5\n")


def write_study(root):
    root.mkdir()
    (root / "runs.csv").write_text(RUNS)
    (root / "table1.csv").write_text(TABLE1)
    # point_maze_map_elites_s1 SUCCEEDED in runs.csv, but its folder was not committed.
    for name, (a, b) in {"point_maze_map_elites_s0": (5, 10.5),
                         "point_maze_gda_qd_s0": (8, 20.5),
                         "point_maze_gda_qd_s1": (6, 12)}.items():
        run = root / "runs" / name
        run.mkdir(parents=True)
        (run / "metrics.csv").write_text(METRICS.format(a=a, b=b))
        (run / "archive.csv").write_text(ARCHIVE)
    (root / "runs" / "point_maze_gda_qd_s0" / "sittings.csv").write_text(
        "started,ended,used_started,used_ended,beside\n"
        "2026-12-01T18:00:00Z,2026-12-01T19:30:00Z,0,120,point_maze_gda_qd_s1 x_s0\n"
        "2026-12-02T09:00:00Z,2026-12-02T09:10:00Z,120,200,\n")
    return root


def test_loads_finished_runs_and_reports(tmp_path):
    study = gdaqd.load_study(write_study(tmp_path / "study"))
    assert len(study.runs) == 4
    assert list(study.finished()["run"]) == ["point_maze_map_elites_s0", "point_maze_gda_qd_s0"]
    assert list(study.metrics.columns[:5]) == ["run", "task", "algorithm", "schedule", "seed"]
    assert len(study.metrics) == 4 and len(study.archives) == 2
    final = study.metrics.groupby("algorithm")["qd_score_pct"].last()
    assert final["GDA_QD"] == 20.5 and final["MAP_ELITES"] == 10.5
    assert study.runs["commit"].tolist()[0] == "0123abc"
    # "-" and empty cells are NaN; the numeric columns stay numeric.
    assert math.isnan(study.table1.loc[1, "qd_score_pct_median"])
    assert study.table1["qd_score_pct_median"].dtype.kind == "f"
    assert math.isnan(study.table1.loc[0, "p_evals"])
    assert study.table1.loc[1, "evaluations_to_target_median"] == "censored"
    assert study.rl_rows is None and study.schedule_arm is None
    # Sittings of the finished runs that have them (point_maze_map_elites_s0 has none).
    assert list(study.sittings["run"]) == ["point_maze_gda_qd_s0"] * 2
    spans = study.sittings["ended"] - study.sittings["started"]
    assert [s.total_seconds() for s in spans] == [5400, 600]
    assert study.sittings["beside"].tolist() == ["point_maze_gda_qd_s1 x_s0", ""]
    assert study.sittings["used_ended"].tolist() == [120, 200]


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="runs.csv"):
        gdaqd.load_study(tmp_path / "nothing")
    root = write_study(tmp_path / "study")
    (root / "runs" / "point_maze_gda_qd_s0" / "metrics.csv").unlink()
    with pytest.raises(FileNotFoundError, match="point_maze_gda_qd_s0"):
        gdaqd.load_study(root)
    (root / "runs.csv").write_text("run,task\nx,point_maze\n")
    with pytest.raises(ValueError, match="runs.csv.*lack"):
        gdaqd.load_study(root)


REPRODUCTION = __import__("pathlib").Path(__file__).resolve().parents[2] / "docs" / "reproduction"


@pytest.mark.parametrize("grid", ["study", "study-es", "study-rl"])
def test_loads_the_committed_grids(grid):
    # The committed grids, as they are in this checkout: every line of runs.csv has its 13 (or,
    # with RL runs, 14) fields, e.g. a run resumed at several commits keeps them in one field,
    # and every finished run's folder loads.
    study = gdaqd.load_study(REPRODUCTION / grid)
    assert list(study.runs.columns[:13]) == [
        "run", "task", "algorithm", "schedule", "seed", "budget", "state", "evaluations",
        "wall_seconds", "qd_score_pct", "experiment_id", "commit", "error"]
    assert study.runs["run"].is_unique
    finished = study.finished()
    assert len(finished) >= 12
    assert set(study.metrics["run"]) == set(finished["run"])
    assert not study.runs["commit"].fillna("").str.contains(",").any()
