"""The MLP policy of docs/policy_layout.md in numpy: the same flat float32 layout and forward pass
as the C++ MlpPolicy (common/mlp_policy.h), so an archived elite can be run in Python."""

import dataclasses
from typing import Sequence, Tuple

import numpy as np

# obs_dim, action_dim of every task the workers run (common/point_maze.h, common/ant_tasks.h).
TASK_DIMS = {
    "point_maze": (2, 2),
    "ant_trap": (29, 8),
    "ant_maze": (29, 8),
    "ant_omni": (29, 8),
}

DEFAULT_HIDDEN_SIZES = (64, 64)


def _swish(x):
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x << 0: x / inf = -0
        return x / (np.float32(1) + np.exp(-x))


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, np.float32(0)),
    "tanh": np.tanh,
    "swish": _swish,
    "identity": lambda x: x,
}


@dataclasses.dataclass(frozen=True)
class PolicyLayout:
    """Shape of a policy: obs_dim -> hidden_sizes[0] -> ... -> action_dim (MlpLayout in C++)."""

    obs_dim: int
    hidden_sizes: Tuple[int, ...]
    action_dim: int
    hidden_activation: str = "relu"
    output_activation: str = "tanh"

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        sizes = {"obs_dim": self.obs_dim, "action_dim": self.action_dim}
        sizes.update({f"hidden_sizes[{i}]": h for i, h in enumerate(self.hidden_sizes)})
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name in ("hidden_activation", "output_activation"):
            if getattr(self, name) not in ACTIVATIONS:
                raise ValueError(
                    f"{name}: unknown activation '{getattr(self, name)}' "
                    f"(expected one of {', '.join(ACTIVATIONS)})"
                )

    @property
    def sizes(self) -> Tuple[int, ...]:
        return (self.obs_dim, *self.hidden_sizes, self.action_dim)

    @property
    def num_params(self) -> int:
        s = self.sizes
        return sum(n_in * n_out + n_out for n_in, n_out in zip(s[:-1], s[1:]))

    @classmethod
    def from_config(cls, config, obs_dim=None, action_dim=None):
        """The layout of an ExperimentConfig message (or a dict of the same shape): its policy
        section with the coordinator's defaults, and the task's dimensions from TASK_DIMS
        unless obs_dim / action_dim are given."""
        if isinstance(config, dict):
            env, policy = config.get("env", {}), config.get("policy", {})
            task = env.get("task", "point_maze")
            hidden = policy.get("hidden_sizes", policy.get("hiddenSizes")) or DEFAULT_HIDDEN_SIZES
            hidden_act = policy.get("hidden_activation", policy.get("hiddenActivation")) or "relu"
            output_act = policy.get("output_activation", policy.get("outputActivation")) or "tanh"
        else:
            task = config.env.task or "point_maze"
            hidden = list(config.policy.hidden_sizes) or DEFAULT_HIDDEN_SIZES
            hidden_act = config.policy.hidden_activation or "relu"
            output_act = config.policy.output_activation or "tanh"
        if obs_dim is None or action_dim is None:
            if task not in TASK_DIMS:
                raise ValueError(
                    f"env.task: unknown task '{task}'; pass obs_dim and action_dim "
                    f"(known: {', '.join(TASK_DIMS)})"
                )
            obs_dim = TASK_DIMS[task][0] if obs_dim is None else obs_dim
            action_dim = TASK_DIMS[task][1] if action_dim is None else action_dim
        return cls(obs_dim, tuple(hidden), action_dim, hidden_act, output_act)


class Policy:
    """One policy: a flat float32 parameter vector (a row of archive_params.npy or of
    Client.export's array) and its layout. act() is the C++ MlpPolicy::Act forward pass in
    float32; results agree to float rounding (about 1e-6; docs/policy_layout.md)."""

    def __init__(self, params, layout):
        """`layout` is a PolicyLayout, or an ExperimentConfig (message or dict) for
        PolicyLayout.from_config. ValueError if the parameter count does not match the layout
        or a parameter is NaN or infinite (as the C++ MlpPolicy::Create)."""
        if not isinstance(layout, PolicyLayout):
            layout = PolicyLayout.from_config(layout)
        flat = np.asarray(params, dtype=np.float32).reshape(-1)
        if flat.size != layout.num_params:
            raise ValueError(
                f"policy has {flat.size} parameters, layout expects {layout.num_params}"
            )
        if not np.all(np.isfinite(flat)):
            raise ValueError("policy parameters must be finite (found NaN or infinity)")
        self.layout = layout
        self.layers = []  # [(W [in, out], b [out])], input layer first
        offset = 0
        sizes = layout.sizes
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w = flat[offset : offset + n_in * n_out].reshape(n_in, n_out)
            offset += n_in * n_out
            self.layers.append((w, flat[offset : offset + n_out]))
            offset += n_out

    def act(self, obs) -> np.ndarray:
        """Raw action (before the task clips and scales it) for one observation [obs_dim], or a
        batch [n, obs_dim] -> [n, action_dim]. float32."""
        x = np.asarray(obs, dtype=np.float32)
        if x.shape[-1] != self.layout.obs_dim or x.ndim not in (1, 2):
            raise ValueError(
                f"obs has shape {x.shape}, expected [{self.layout.obs_dim}] or "
                f"[n, {self.layout.obs_dim}]"
            )
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            name = self.layout.output_activation if i == last else self.layout.hidden_activation
            x = ACTIVATIONS[name](x @ w + b).astype(np.float32, copy=False)
        return x

    __call__ = act


def policies(params: np.ndarray, layout) -> Sequence[Policy]:
    """One Policy per row of a [n, num_params] array."""
    return [Policy(row, layout) for row in np.asarray(params)]
