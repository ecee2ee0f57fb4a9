#!/usr/bin/env python3
"""Quick start of the gdaqd Python client (docs/python.md), cell by cell as in a notebook: submit
an experiment to a coordinator, watch its progress, export its archive into pandas and numpy,
plot it, and run its best policy.

Start a coordinator and a worker first (from the repository root, after scripts/setup.sh):

    build/server/gdaqd-server --listen 127.0.0.1:50051 --state_dir /tmp/gdaqd-state &
    build/worker/gdaqd-worker --coordinator 127.0.0.1:50051 &
    python3 examples/python_quickstart.py            # writes quickstart.png

Options: --coordinator HOST:PORT, --config FILE.textproto (default: MAP-Elites on PointMaze),
--budget N (evaluations), --out PNG, --token / --tls_ca / --tls_server_name for a secured one.
"""

# %% Setup: the package lives in python/ of the repository.
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import gdaqd  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--coordinator", default="127.0.0.1:50051")
parser.add_argument("--config", default=os.path.join(HERE, "point_maze_me.textproto"))
parser.add_argument("--budget", type=int, default=20000, help="max_evaluations")
parser.add_argument("--out", default="quickstart.png")
parser.add_argument("--token", default=None, help="bearer token (docs/cluster.md)")
parser.add_argument("--tls_ca", default=None)
parser.add_argument("--tls_server_name", default=None)
args = parser.parse_args()

# %% Connect and submit. A config is a dict, a text-format string, a .textproto path or the
# ExperimentConfig message; here the example file with a smaller budget.
tls = gdaqd.Tls(args.tls_ca, args.tls_server_name) if args.tls_ca else None
client = gdaqd.Client(args.coordinator, token=args.token, tls=tls)
config = gdaqd.parse_config(args.config)
config.budget.max_evaluations = args.budget
config.name = "python_quickstart"
exp_id = client.submit(config)
print(f"submitted {exp_id}: {gdaqd.config_pb2.Algorithm.Name(config.algorithm)} on "
      f"{config.env.task}, {args.budget:,} evaluations")

# %% Watch: one ExperimentStatus after every iteration, until it is final.
for status in client.watch(exp_id):
    p = status.progress
    print(f"\r{gdaqd.state_name(status.state):9s} it {p.iteration:4d} | evals "
          f"{p.evaluations:>7,}/{args.budget:,} | QD {p.qd_score_pct:5.1f}% | cov "
          f"{p.coverage_pct:5.1f}% | max {p.max_fitness:8.2f} | {status.connected_workers} "
          f"workers", end="", flush=True)
print()
if status.state != gdaqd.coordinator_pb2.SUCCEEDED:
    sys.exit(f"{exp_id} ended {gdaqd.state_name(status.state)}: {status.error}")

# %% Export: elites as a DataFrame (cell, centroid_*, descriptor_*, fitness), parameters as a
# float32 [elites, num_params] array, and the per-iteration history.
archive = client.export_archive(exp_id)
elites, params, history = archive.elites, archive.params, archive.history
print(elites.describe().loc[["count", "mean", "min", "max"]].round(3).to_string())
print(f"params: {params.dtype} {params.shape}")

# %% Plot the archive (each filled cell coloured by its elite's fitness) and the progress curves.
fig, (ax_archive, ax_progress, ax_fitness) = plt.subplots(1, 3, figsize=(15, 4.5))
low, high = archive.descriptor_low, archive.descriptor_high
extent = (low[0], high[0], low[1], high[1])
if len(archive.cells_per_dim) == 2:  # grid: one pixel per cell, located by its centroid
    nx, ny = archive.cells_per_dim
    ix = ((elites["centroid_0"] - low[0]) / (high[0] - low[0]) * nx).astype(int).clip(0, nx - 1)
    iy = ((elites["centroid_1"] - low[1]) / (high[1] - low[1]) * ny).astype(int).clip(0, ny - 1)
    image = np.full((ny, nx), np.nan)
    image[iy, ix] = elites["fitness"]
    shown = ax_archive.imshow(image, origin="lower", extent=extent, cmap="viridis")
else:  # CVT: one dot per elite at its descriptor
    shown = ax_archive.scatter(elites["descriptor_0"], elites["descriptor_1"],
                               c=elites["fitness"], s=8, cmap="viridis")
if config.env.task == "point_maze":
    ax_archive.plot(-0.5, 0.8, marker="*", color="red", markersize=14, label="goal")
    ax_archive.legend(loc="lower right")
ax_archive.set(xlim=extent[:2], ylim=extent[2:], xlabel="final x", ylabel="final y",
               aspect="equal", title=f"{len(elites)} elites of {archive.num_cells} cells")
fig.colorbar(shown, ax=ax_archive, label="fitness")
ax_progress.plot(history["evaluations"], history["qd_score_pct"], label="QD-score %")
ax_progress.plot(history["evaluations"], history["coverage_pct"], label="coverage %")
ax_progress.set(xlabel="evaluations", ylim=(0, 100), title="progress")
ax_progress.legend()
ax_fitness.step(history["evaluations"], history["max_fitness"], where="post")
ax_fitness.set(xlabel="evaluations", ylabel="max fitness", title="best elite")
fig.tight_layout()
fig.savefig(args.out, dpi=120)
print(f"wrote {args.out}")

# %% Run the best elite's policy: the same forward pass as the workers' (docs/policy_layout.md).
best = int(elites["fitness"].to_numpy().argmax())
policy = gdaqd.Policy(params[best], archive.status.config)
obs = np.zeros((1, policy.layout.obs_dim), dtype=np.float32)
print(f"best elite: cell {elites['cell'].iloc[best]}, fitness {elites['fitness'].iloc[best]:.2f}, "
      f"raw action at obs 0: {np.array2string(policy.act(obs)[0], precision=4)}")
client.close()
