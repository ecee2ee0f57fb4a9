"""gdaqd.Client against a real coordinator and worker (conftest.py): submit, watch, status,
export, cancel, delete, errors, and Policy.act against the C++ forward pass of `gdaqd replay`."""

import math
import os
import subprocess

import grpc
import numpy as np
import pandas as pd
import pytest

import gdaqd

BUDGET = 400
EPISODE_LENGTH = 100
POINT_MAZE_OFFSET = 2.3431  # reward offset per step (common/point_maze.cc)
CONFIG = {
    "name": "pytest_me",
    "algorithm": "MAP_ELITES",
    "seed": 3,
    "env": {"task": "point_maze", "episode_length": EPISODE_LENGTH},
    "policy": {"hidden_sizes": [16, 16]},
    "archive": {"type": "GRID", "cells_per_dim": [10, 10]},
    "emitter": {"batch_size": 50},
    "budget": {"max_evaluations": BUDGET},
}
# The same kind of experiment as text format, with a budget it never reaches (cancelled).
LONG_TEXTPROTO = """
name: "pytest_cancel"  # comments are allowed
algorithm: MAP_ELITES
env { task: "point_maze" episode_length: 100 }
policy { hidden_sizes: [8] }
archive { type: GRID cells_per_dim: [5, 5] }
budget { max_evaluations: 100000000 }
"""


@pytest.fixture(scope="module")
def client(cluster):
    with gdaqd.Client(cluster.address) as c:
        yield c


@pytest.fixture(scope="module")
def finished(client):
    """The tiny MAP-Elites experiment, submitted as a dict and watched to its end."""
    exp_id = client.submit(CONFIG)
    statuses = list(client.watch(exp_id))
    return exp_id, statuses


def test_watch_streams_progress_until_succeeded(finished):
    exp_id, statuses = finished
    assert exp_id.startswith("exp-")
    assert all(s.id == exp_id for s in statuses)
    final = statuses[-1]
    assert gdaqd.state_name(final.state) == "SUCCEEDED", final.error
    assert all(s.state not in gdaqd.FINAL_STATES for s in statuses[:-1])
    evaluations = [s.progress.evaluations for s in statuses]
    assert evaluations == sorted(evaluations)
    assert final.progress.evaluations == BUDGET
    assert final.progress.iteration == BUDGET // CONFIG["emitter"]["batch_size"]


def test_status_of_one_and_of_all(client, finished):
    exp_id, statuses = finished
    status = client.status(exp_id)
    final = statuses[-1].progress  # (messages holding NaN losses never compare equal)
    for field in ("iteration", "evaluations", "qd_score", "coverage_pct", "num_filled"):
        assert getattr(status.progress, field) == getattr(final, field)
    assert math.isnan(status.progress.critic_loss)  # MAP-Elites has no critic
    assert status.config.name == "pytest_me"
    assert list(status.config.policy.hidden_sizes) == [16, 16]
    listed = {s.id: s for s in client.status()}
    assert listed[exp_id].state == gdaqd.coordinator_pb2.SUCCEEDED


def test_export_agrees_with_the_status_counters(client, finished):
    exp_id, statuses = finished
    progress = statuses[-1].progress
    archive = client.export_archive(exp_id)
    elites, params = archive.elites, archive.params
    assert list(elites.columns) == ["cell", "centroid_0", "centroid_1", "descriptor_0",
                                    "descriptor_1", "fitness"]
    assert len(elites) == progress.num_filled > 0
    assert archive.num_cells == 100 and archive.cells_per_dim == [10, 10]
    assert elites["cell"].is_unique and elites["cell"].is_monotonic_increasing
    assert elites["cell"].between(0, archive.num_cells - 1).all()
    for i in range(2):
        assert elites[f"descriptor_{i}"].between(archive.descriptor_low[i],
                                                 archive.descriptor_high[i]).all()
    assert elites["fitness"].max() == pytest.approx(progress.max_fitness, abs=1e-6)
    assert progress.coverage_pct == pytest.approx(100 * len(elites) / archive.num_cells)
    qd_offset = POINT_MAZE_OFFSET * EPISODE_LENGTH
    qd_score = float((elites["fitness"].astype(np.float64) + qd_offset).sum())
    assert progress.qd_score == pytest.approx(qd_score, rel=1e-6)

    layout = gdaqd.PolicyLayout.from_config(archive.status.config)
    assert layout.num_params == (2 * 16 + 16) + (16 * 16 + 16) + (16 * 2 + 2) == archive.num_params
    assert params.dtype == np.float32 and params.shape == (len(elites), layout.num_params)
    assert np.isfinite(params).all()

    history = archive.history
    assert len(history) == progress.iteration
    assert history["evaluations"].iloc[-1] == BUDGET
    assert history["qd_score"].iloc[-1] == pytest.approx(progress.qd_score)

    # export() is the (elites, params) pair of the same archive.
    elites2, params2 = client.export(exp_id)
    pd.testing.assert_frame_equal(elites2, elites)
    assert np.array_equal(params2, params)


def run_cli(cluster, *args) -> str:
    result = subprocess.run([cluster.cli, f"--coordinator={cluster.address}", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"gdaqd {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def test_policy_act_matches_the_cpp_forward_pass(cluster, client, finished):
    exp_id, _ = finished
    elites, params = client.export(exp_id)
    folder = os.path.join(cluster.tmp, "results")
    run_cli(cluster, "export", exp_id, folder)  # the C++ client writes the results folder

    results = gdaqd.load_results(folder)
    assert results.status.id == exp_id
    assert gdaqd.state_name(results.status.state) == "SUCCEEDED"
    pd.testing.assert_frame_equal(results.archive, elites, check_dtype=False)
    assert np.array_equal(results.params, params)
    assert len(results.metrics) == results.status.progress.iteration
    assert results.metrics["evaluations"].iloc[-1] == BUDGET

    # `gdaqd replay` re-runs the elite in C++ and writes the raw actions of MlpPolicy::Act.
    row = results.best()
    cell = int(results.archive["cell"].iloc[row])
    run_cli(cluster, "replay", folder, f"--cell={cell}")
    trajectory = pd.read_csv(os.path.join(folder, f"trajectory_{cell}.csv"),
                             float_precision="round_trip")
    obs = trajectory[["obs_0", "obs_1"]].to_numpy(np.float32)
    cpp_actions = trajectory[["action_0", "action_1"]].to_numpy(np.float32)
    assert len(obs) > 0
    actions = results.policy(row).act(obs)
    assert actions.dtype == np.float32 and actions.shape == cpp_actions.shape
    print("max |python - C++| action difference:", np.abs(actions - cpp_actions).max())
    np.testing.assert_allclose(actions, cpp_actions, rtol=0, atol=2e-6)
    # One observation at a time gives the same as the batch.
    np.testing.assert_allclose(results.policy(row).act(obs[0]), actions[0], rtol=0, atol=1e-7)


def test_submit_text_format_and_message_then_cancel_and_delete(client):
    ids = [client.submit(LONG_TEXTPROTO),
           client.submit(gdaqd.parse_config(LONG_TEXTPROTO))]
    for exp_id in ids:
        cancelled = client.cancel(exp_id)
        assert cancelled.id == exp_id
        final = client.wait(exp_id)
        assert gdaqd.state_name(final.state) == "CANCELLED"
        assert final.config.name == "pytest_cancel"
        assert final.progress.evaluations < 100000000
        client.delete(exp_id)
        with pytest.raises(gdaqd.GdaqdError) as error:
            client.status(exp_id)
        assert error.value.code == grpc.StatusCode.NOT_FOUND


def test_unknown_config_field_is_named_before_sending(client):
    with pytest.raises(gdaqd.ConfigError) as error:
        client.submit({"budget": {"max_evalutions": 10}})
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_evalutions" in str(error.value)
    with pytest.raises(gdaqd.ConfigError, match="batch_sise"):
        client.submit("emitter { batch_sise: 3 }")
    with pytest.raises(ValueError, match="MAP_ELITE"):  # ConfigError is also a ValueError
        client.submit({"algorithm": "MAP_ELITE"})


def test_invalid_config_value_is_named_by_the_coordinator(client):
    with pytest.raises(gdaqd.GdaqdError) as error:
        client.submit({**CONFIG, "emitter": {"batch_size": -5}})
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.code_name == "INVALID_ARGUMENT"
    assert "emitter.batch_size" in error.value.details
    assert str(error.value).startswith("INVALID_ARGUMENT: ")


def test_rpc_errors_carry_code_and_message(client):
    with pytest.raises(gdaqd.GdaqdError) as error:
        client.status("exp-999999")
    assert error.value.code == grpc.StatusCode.NOT_FOUND
    assert "exp-999999" in error.value.details
    with pytest.raises(gdaqd.GdaqdError) as error:
        list(client.watch("exp-999999"))
    assert error.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(gdaqd.GdaqdError) as error:
        client.export("exp-999999")
    assert error.value.code == grpc.StatusCode.NOT_FOUND


def test_unreachable_coordinator_is_unavailable(cluster):
    with pytest.raises(gdaqd.GdaqdError) as error:
        gdaqd.Client("127.0.0.1:1", connect_timeout=0.3)
    assert error.value.code == grpc.StatusCode.UNAVAILABLE
    assert "127.0.0.1:1" in str(error.value)


def test_history_frame_has_a_column_per_named_metric():
    first = gdaqd.coordinator_pb2.ProgressSnapshot(iteration=1, imagined_evaluations=5)
    first.metrics.add(name="imagined_evaluations", value=5)
    first.metrics.add(name="toy_metric", value=1.5)
    second = gdaqd.coordinator_pb2.ProgressSnapshot(iteration=2)
    second.metrics.add(name="other_metric", value=2)
    frame = gdaqd.history_frame([first, second])
    assert "metrics" not in frame.columns
    assert list(frame.columns[-2:]) == ["toy_metric", "other_metric"]
    assert frame["toy_metric"].iloc[0] == 1.5
    assert math.isnan(frame["toy_metric"].iloc[1])
    assert frame["other_metric"].iloc[1] == 2
    assert frame["imagined_evaluations"].iloc[0] == 5
    assert gdaqd.snapshot_dict(first)["toy_metric"] == 1.5
