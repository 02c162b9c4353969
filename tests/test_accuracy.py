"""End-to-end: real MNIST, the mission's bar, in well under a minute."""

from digitnet import Classifier


def test_fast_preset_passes_97_percent_on_real_mnist(mnist):
    clf = Classifier(epochs=2).fit(mnist.x_train, mnist.y_train, test=(mnist.x_test, mnist.y_test))
    assert clf.result_.test_accuracy >= 0.97, clf.result_.test_accuracy
    assert clf.score(mnist.x_test, mnist.y_test) == clf.result_.test_accuracy
    assert len(clf.history_) == 2
    assert clf.history_[1]["loss"] < clf.history_[0]["loss"]
