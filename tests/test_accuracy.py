"""End-to-end: real MNIST, the mission's bar, in well under a minute."""

from digitnet import fit, preset


def test_fast_preset_passes_97_percent_on_real_mnist(mnist):
    result = fit(preset("fast", epochs=2), mnist)
    assert result.test_accuracy >= 0.97, result.test_accuracy
    assert len(result.history) == 2
    assert result.history[1]["loss"] < result.history[0]["loss"]
