"""gdaqd.Policy against the numpy reference of docs/policy_layout.md and the layout rules of
common/mlp_policy.h (no coordinator needed). The C++ comparison is in test_client.py."""

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
