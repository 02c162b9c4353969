"""End-to-end: real MNIST, the mission's bar, in well under a minute."""


def test_fast_preset_passes_97_percent_on_real_mnist(mnist, fast_classifier):
    clf = fast_classifier  # Classifier(epochs=2).fit(...) on all of MNIST, trained once
    assert clf.result_.test_accuracy >= 0.97, clf.result_.test_accuracy
    assert clf.score(mnist.x_test, mnist.y_test) == clf.result_.test_accuracy
    assert len(clf.history_) == 2
    assert clf.history_[1]["loss"] < clf.history_[0]["loss"]
