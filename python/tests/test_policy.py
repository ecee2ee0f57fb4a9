"""gdaqd.Policy against the numpy reference of docs/policy_layout.md and the layout rules of
common/mlp_policy.h (no coordinator needed). The C++ comparison is in test_client.py."""

import ast
import pathlib
import re

import numpy as np
import pytest

import gdaqd


# docs/policy_layout.md's "Rebuilding a policy in numpy", verbatim apart from names.
def doc_unflatten(flat, obs_dim, hidden_sizes, action_dim):
    sizes = [obs_dim, *hidden_sizes, action_dim]
    layers, offset = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = flat[offset:offset + n_in * n_out].reshape(n_in, n_out)
        offset += n_in * n_out
        b = flat[offset:offset + n_out]
        offset += n_out
        layers.append((W, b))
    assert offset == flat.size
    return layers


DOC_ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "swish": lambda x: x / (1 + np.exp(-x)),
    "identity": lambda x: x,
}


def doc_act(layers, obs, hidden, output):
    x = np.asarray(obs, dtype=np.float32)
    for l, (W, b) in enumerate(layers):
        x = DOC_ACTIVATIONS[output if l == len(layers) - 1 else hidden](x @ W + b)
    return x


def test_num_params_of_the_default_point_maze_policy():
    layout = gdaqd.PolicyLayout.from_config({"env": {"task": "point_maze"}})
    assert layout == gdaqd.PolicyLayout(2, (64, 64), 2, "relu", "tanh")
    assert layout.num_params == 4482
    ant = gdaqd.PolicyLayout.from_config(gdaqd.parse_config('env { task: "ant_trap" }'))
    assert (ant.obs_dim, ant.action_dim) == (29, 8)


@pytest.mark.parametrize("hidden,output", [("relu", "tanh"), ("tanh", "identity"),
                                           ("swish", "tanh"), ("identity", "swish")])
def test_act_equals_the_documented_reference(hidden, output):
    rng = np.random.default_rng(7)
    layout = gdaqd.PolicyLayout(3, (5, 4), 2, hidden, output)
    params = rng.normal(size=layout.num_params).astype(np.float32)
    obs = rng.normal(size=(16, 3)).astype(np.float32)
    expected = doc_act(doc_unflatten(params, 3, [5, 4], 2), obs, hidden, output)
    actual = gdaqd.Policy(params, layout).act(obs)
    assert actual.dtype == np.float32 and actual.shape == (16, 2)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6)


def test_kernel_is_row_major_in_out():
    # 2 -> 3, identity: W[i, j] at offset i * 3 + j, then b. obs e_1 selects row 1 of W plus b.
    layout = gdaqd.PolicyLayout(2, (), 3, "relu", "identity")
    params = np.arange(9, dtype=np.float32)  # W = [[0, 1, 2], [3, 4, 5]], b = [6, 7, 8]
    np.testing.assert_array_equal(gdaqd.Policy(params, layout).act([0, 1]), [9, 11, 13])


def test_rejects_wrong_sizes_and_non_finite_params():
    layout = gdaqd.PolicyLayout(2, (4,), 2)
    with pytest.raises(ValueError, match="policy has 5 parameters, layout expects 22"):
        gdaqd.Policy(np.zeros(5), layout)
    with pytest.raises(ValueError, match="finite"):
        gdaqd.Policy(np.full(22, np.nan), layout)
    with pytest.raises(ValueError, match=r"obs has shape \(3,\)"):
        gdaqd.Policy(np.zeros(22), layout).act([0, 0, 0])
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\] must be >= 1"):
        gdaqd.PolicyLayout(2, (4, 0), 2)
    with pytest.raises(ValueError, match="hidden_activation: unknown activation 'gelu'"):
        gdaqd.PolicyLayout(2, (4,), 2, "gelu")
    with pytest.raises(ValueError, match="env.task: unknown task 'cartpole'"):
        gdaqd.PolicyLayout.from_config({"env": {"task": "cartpole"}})


# --- Policy kinds and exploration noise: the numpy code of docs/policy_layout.md itself (its
# function definitions and constants, taken from the page), against the values that
# common/mlp_policy_test.cc and common/rollout_test.cc pin for the C++ forward passes and noise.

DOC_PATH = pathlib.Path(__file__).resolve().parents[2] / "docs" / "policy_layout.md"


def doc_namespace():
    """Executes the definitions (def, UPPER_CASE = ...) of every python block of the doc."""
    namespace = {"np": np}
    for block in re.findall(r"```python\n(.*?)```", DOC_PATH.read_text(), re.S):
        tree = ast.parse(block)
        tree.body = [node for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.Import))
                     or (isinstance(node, ast.Assign)
                         and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets))]
        exec(compile(tree, str(DOC_PATH), "exec"), namespace)
    return namespace


DOC = doc_namespace()


def doc_params(n):
    """Parameter i of the documented test policies: ((7 i) mod 13 - 6) / 8 (mlp_policy_test.cc)."""
    return np.array([((i * 7) % 13 - 6) / 8 for i in range(n)], dtype=np.float32)


@pytest.mark.parametrize("args,expected", [
    ((7, 0, 0), "-0x1.766856p-2"), ((7, 0, 1), "0x1.093de8p-2"), ((7, 3, 0), "-0x1.75528ap-2"),
    ((7, 3, 1), "-0x1.941e6ep+1"), ((0, 0, 0), "-0x1.cf9fbap-2"),
    ((2**64 - 1, 249, 7), "-0x1.79f5d2p-2")])
def test_doc_episode_noise_equals_the_cpp_values(args, expected):
    value = DOC["episode_noise"](*args)
    assert value.dtype == np.float32 and float(value) == float.fromhex(expected)


def test_doc_tanh_gaussian_skill_policy_equals_the_cpp_forward_pass():
    # obs 3 ++ one-hot(2) -> 4 (tanh) -> mu [2] ++ rho [2], skill 1 (DocSkillGaussianCase).
    layers = DOC["unflatten"](doc_params(44), 3 + 2, [4], 2 * 2)
    obs = np.array([0.5, -0.25, 1.0], dtype=np.float32)
    raw = DOC["act"](layers, DOC["network_input"](obs, 2, 1), "tanh", "identity")
    np.testing.assert_allclose(raw, [0.15899497, -0.19212747, -0.00015923381, -0.3512817],
                               rtol=0, atol=1e-6)
    evaluation = DOC["policy_action"](layers, obs, "TANH_GAUSSIAN", num_skills=2, skill=1,
                                      hidden="tanh", output="identity")
    np.testing.assert_allclose(evaluation, [0.15766862, -0.18979786], rtol=0, atol=1e-6)
    noise = np.array([DOC["episode_noise"](7, 3, j) for j in range(2)], dtype=np.float32)
    sample = DOC["policy_action"](layers, obs, "TANH_GAUSSIAN", num_skills=2, skill=1,
                                  hidden="tanh", output="identity", noise=noise)
    np.testing.assert_allclose(sample, [-0.093766809, -0.95427769], rtol=0, atol=1e-6)


def test_doc_deterministic_skill_policy_equals_the_cpp_forward_pass():
    # obs 2 ++ one-hot(3) -> 3 (relu) -> 2 (tanh), skill 2 (DocSkillDeterministicCase).
    layers = DOC["unflatten"](doc_params(26), 2 + 3, [3], 2)
    obs = np.array([0.75, -0.5], dtype=np.float32)
    action = DOC["policy_action"](layers, obs, num_skills=3, skill=2)
    np.testing.assert_allclose(action, [0.635149, 0.0], rtol=0, atol=1e-6)


def test_doc_td3_exploration_adds_clipped_noise():
    # The constant 0.5 policy of rollout_test.cc's DeterministicExplorationAddsClippedGaussianNoise.
    layers = DOC["unflatten"](np.array([0, 0.5], dtype=np.float32), 1, [], 1)
    for t in range(20):
        noise = np.array([DOC["episode_noise"](9, t, 0)], dtype=np.float32)
        action = DOC["policy_action"](layers, [3.0], output="identity", noise=noise,
                                      exploration_std=1.0)
        assert action[0] == np.clip(np.float32(0.5) + noise[0], -1, 1)


def test_doc_kinds_have_the_documented_parameter_counts():
    # 2 -> 64 -> 64 point_maze TANH_GAUSSIAN actor with 5 skills: 4,932 (mlp_policy_test.cc).
    flat = np.zeros(4932, dtype=np.float32)
    layers = DOC["unflatten"](flat, 2 + 5, [64, 64], 2 * 2)
    assert [w.shape for w, _ in layers] == [(7, 64), (64, 64), (64, 4)]
