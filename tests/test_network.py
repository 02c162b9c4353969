"""The network math: finite-difference gradients, and a tiny case worked by hand."""

import numpy as np
import pytest

from digitnet import network


def _tiny_params(rng, biases):
    params = {"W1": rng.normal(size=(5, 4)), "W2": rng.normal(size=(4, 3))}
    if biases:
        params["b1"] = rng.normal(size=4)
        params["b2"] = rng.normal(size=3)
    return params


def _loss(params, x, y, loss):
    return network.LOSSES[loss](network.forward(params, x)[1], y)[0]


def numeric_gradients(loss_of, params, eps=1e-6):
    """Central finite differences of loss_of(params) for every entry of every parameter."""
    numeric = {}
    for name, p in params.items():
        numeric[name] = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = loss_of(params)
            p[i] = old - eps
            down = loss_of(params)
            p[i] = old
            numeric[name][i] = (up - down) / (2 * eps)
    return numeric


@pytest.mark.parametrize("loss", ["squared_error", "cross_entropy"])
@pytest.mark.parametrize("biases", [True, False])
def test_backward_matches_finite_differences(loss, biases):
    rng = np.random.default_rng(42)
    params = _tiny_params(rng, biases)
    x = rng.normal(size=(6, 5))
    y = rng.integers(0, 3, size=6)
    h, z = network.forward(params, x)
    _, dz = network.LOSSES[loss](z, y)
    grads = network.backward(params, x, h, dz)
    assert set(grads) == set(params)
    numeric = numeric_gradients(lambda p: _loss(p, x, y, loss), params)
    for name in params:
        np.testing.assert_allclose(grads[name], numeric[name], rtol=1e-5, atol=1e-8,
                                   err_msg=name)


def test_label_smoothing_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 10))
    y = rng.integers(0, 10, size=4)
    _, dz = network.softmax_cross_entropy(z, y, 0.1)
    eps = 1e-6
    numeric = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += eps
        zm[i] -= eps
        numeric[i] = (network.softmax_cross_entropy(zp, y, 0.1)[0]
                      - network.softmax_cross_entropy(zm, y, 0.1)[0]) / (2 * eps)
    np.testing.assert_allclose(dz, numeric, rtol=1e-5, atol=1e-9)


def test_tiny_network_worked_by_hand():
    # x = [1, 2]; W1 = [[1, -1], [1, 1]] -> a1 = [3, 1]; h = [3, 1]
    # W2 = [[1, 0], [0, -1]] -> z = [3, -1]; goal for y = 0 is [1, 0] -> dz = [2, -1]
    # loss = 1/2 (4 + 1) = 2.5
    # dW2 = outer(h, dz) = [[6, -3], [2, -1]]
    # dh = dz @ W2.T = [2, 1]; both units active -> da1 = [2, 1]
    # dW1 = outer(x, da1) = [[2, 1], [4, 2]]
    params = {"W1": np.array([[1.0, -1.0], [1.0, 1.0]]), "W2": np.array([[1.0, 0.0], [0.0, -1.0]])}
    x = np.array([[1.0, 2.0]])
    h, z = network.forward(params, x)
    np.testing.assert_array_equal(h, [[3, 1]])
    np.testing.assert_array_equal(z, [[3, -1]])
    loss, dz = network.squared_error(z, np.array([0]))
    assert loss == 2.5
    np.testing.assert_array_equal(dz, [[2, -1]])
    grads = network.backward(params, x, h, dz)
    np.testing.assert_array_equal(grads["W2"], [[6, -3], [2, -1]])
    np.testing.assert_array_equal(grads["W1"], [[2, 1], [4, 2]])


def test_relu_blocks_gradient_of_inactive_units():
    # the second hidden unit has a1 = 1 - 2 = -1 < 0, so it passes no gradient to W1
    params = {"W1": np.array([[1.0, 1.0], [1.0, -1.0]]), "W2": np.ones((2, 2))}
    x = np.array([[1.0, 2.0]])
    h, z = network.forward(params, x)
    np.testing.assert_array_equal(h, [[3, 0]])
    grads = network.backward(params, x, h, network.squared_error(z, np.array([1]))[1])
    np.testing.assert_array_equal(grads["W1"][:, 1], [0, 0])
    np.testing.assert_array_equal(grads["W2"][1], [0, 0])


def test_softmax_is_stable_and_cross_entropy_finite_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0] + [0.0] * 7])
    p = network.softmax(z)
    assert np.isfinite(p).all() and p[0, 0] == pytest.approx(1.0)
    loss, dz = network.softmax_cross_entropy(z, np.array([2]))
    assert np.isfinite(loss) and loss == pytest.approx(2000.0)
    assert np.isfinite(dz).all()


def test_cross_entropy_of_uniform_logits_is_log_10():
    loss, dz = network.softmax_cross_entropy(np.zeros((3, 10)), np.array([0, 5, 9]))
    assert loss == pytest.approx(np.log(10))
    np.testing.assert_allclose(dz.sum(axis=1), 0, atol=1e-12)


def test_init_uniform_reproduces_the_posts_draws():
    # the post's global-state way, compared against an explicit RandomState
    np.random.seed(1)  # noqa: NPY002
    w01 = np.random.random((784, 1000)) * 0.0001  # noqa: NPY002
    w12 = np.random.random((1000, 10)) * 0.0001  # noqa: NPY002
    params = network.init_params(np.random.RandomState(1), 1000, init="uniform", biases=False,
                                 dtype=np.float64)
    assert set(params) == {"W1", "W2"}
    np.testing.assert_array_equal(params["W1"], w01)
    np.testing.assert_array_equal(params["W2"], w12)


@pytest.mark.parametrize("init", ["he", "glorot"])
def test_init_shapes_dtype_and_scale(init):
    params = network.init_params(np.random.default_rng(0), 300, init=init)
    assert params["W1"].shape == (784, 300) and params["W2"].shape == (300, 10)
    assert params["b1"].shape == (300,) and params["b2"].shape == (10,)
    assert all(p.dtype == np.float32 for p in params.values())
    assert 0.01 < params["W1"].std() < 0.1


def test_init_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden must be >= 1, got 0"):
        network.init_params(np.random.default_rng(0), 0)
    with pytest.raises(ValueError, match="init must be one of"):
        network.init_params(np.random.default_rng(0), 10, init="zeros")


def test_dropout_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    params = _tiny_params(rng, True)
    x = rng.normal(size=(6, 5))
    y = rng.integers(0, 3, size=6)
    mask = (rng.random((6, 4)) > 0.5) / 0.5  # inverted dropout at rate 0.5

    def loss_of(p):
        return network.softmax_cross_entropy(network.forward(p, x, hidden_mask=mask)[1], y)[0]

    h, z = network.forward(params, x, hidden_mask=mask)
    grads = network.backward(params, x, h, network.softmax_cross_entropy(z, y)[1],
                             hidden_mask=mask)
    numeric = numeric_gradients(loss_of, params)
    for name in params:
        np.testing.assert_allclose(grads[name], numeric[name], rtol=1e-5, atol=1e-8,
                                   err_msg=name)


def test_max_norm_caps_long_columns_only():
    from digitnet.optim import max_norm

    w = np.array([[3.0, 0.3], [4.0, 0.4]])  # column lengths 5 and 0.5
    max_norm(w, 1.0)
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), [1.0, 0.5])
    np.testing.assert_allclose(w[:, 0], [0.6, 0.8])


@pytest.mark.parametrize("biases", [True, False])
def test_side_by_side_outputs_the_members_mean(biases):
    rng = np.random.default_rng(0)
    members = [network.init_params(rng, h, biases=biases, dtype=np.float64) for h in (5, 3, 8)]
    for p in members:  # make the biases matter
        for name in ("b1", "b2"):
            if name in p:
                p[name] += rng.normal(size=p[name].shape)
    x = rng.normal(size=(7, 784))
    committee = network.side_by_side(members)
    assert committee["W1"].shape == (784, 16)
    mean = np.mean([network.forward(p, x)[1] for p in members], axis=0)
    np.testing.assert_allclose(network.forward(committee, x)[1], mean, rtol=1e-10, atol=1e-12)


def test_side_by_side_refuses_a_mix_of_biases():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="biases"):
        network.side_by_side([network.init_params(rng, 3, biases=True),
                              network.init_params(rng, 3, biases=False)])
