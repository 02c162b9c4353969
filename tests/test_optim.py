"""Optimizers and schedules against PyTorch's, the independent reference."""

import math

import numpy as np
import pytest

from digitnet import optim

torch = pytest.importorskip("torch")


def _torch_optimizer(name, tensors, lr, momentum, beta2, weight_decay):
    if name == "adam":
        return torch.optim.Adam(tensors, lr=lr, betas=(momentum, beta2), eps=optim.ADAM_EPS,
                                weight_decay=weight_decay)
    return torch.optim.SGD(tensors, lr=lr, momentum=0.0 if name == "sgd" else momentum,
                           nesterov=name == "nesterov", weight_decay=weight_decay)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_updates_match_pytorch(name, weight_decay):
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(6, 5)), "b1": rng.normal(size=5)}
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    # torch applies weight decay to every tensor; ours only to weight matrices ("W*")
    reference = _torch_optimizer(name, [tensors["W1"]], 0.05, 0.9, 0.99, weight_decay)
    reference_bias = _torch_optimizer(name, [tensors["b1"]], 0.05, 0.9, 0.99, 0.0)
    state = optim.init_state(params, name)
    for step in range(5):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        lr = 0.05 * (1 - step / 10)  # a changing learning rate, as under a schedule
        for group in reference.param_groups + reference_bias.param_groups:
            group["lr"] = lr
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k].copy())
        reference.step()
        reference_bias.step()
        optim.update(params, grads, state, name, lr, momentum=0.9, beta2=0.99,
                     weight_decay=weight_decay)
        for k in params:
            np.testing.assert_allclose(params[k], tensors[k].detach().numpy(), rtol=1e-12,
                                       atol=1e-12, err_msg=f"{name} {k} step {step}")


def test_schedules():
    lr = optim.learning_rate
    assert lr("constant", 0.1, 3.7, 5) == 0.1
    assert lr("step", 0.1, 1.9, 6, step_every=2) == 0.1
    assert lr("step", 0.1, 2.0, 6, step_every=2) == pytest.approx(0.01)
    assert lr("cosine", 0.1, 0, 4) == 0.1
    assert lr("cosine", 0.1, 2, 4) == pytest.approx(0.05)
    assert lr("cosine", 0.1, 4, 4) == pytest.approx(0.0)
    assert lr("cosine", 0.1, 0.5, 4, warmup=1) == pytest.approx(0.05 * 0.5 * (1 + math.cos(
        math.pi * 0.5 / 4)))
    assert lr("onecycle", 0.1, 0, 10) == pytest.approx(0.004)
    assert lr("onecycle", 0.1, 3, 10) == pytest.approx(0.1)
    assert lr("onecycle", 0.1, 10, 10) == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="schedule must be one of"):
        lr("linear", 0.1, 0, 1)
