"""How long `digitnet evaluate` and `digitnet report` take on a saved model; prints JSON.

    python benchmarks/bench_report.py [MODEL.npz]

Without a model, a 784-1000-10 network is trained for one epoch of the fast preset first
(its training time is not part of the figures). Each step is timed once, in-process, on
the bundled MNIST test set (10,000 images); the report is written to a temporary folder.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from digitnet import Model, fit, load_mnist, load_model, preset
from digitnet import report as plots
from digitnet.evaluation import evaluate_model, format_text, unit_importance


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    data = load_mnist()
    if len(sys.argv) > 1:
        model = load_model(sys.argv[1])
    else:
        config = preset("fast", epochs=1)
        result = fit(config, data.x_train, data.y_train, test=(data.x_test, data.y_test))
        model = Model(result.params, config, {"history": result.history})
    ev, evaluate_seconds = timed(evaluate_model, model, data.x_test, data.y_test, data.source)
    _, text_seconds = timed(format_text, ev)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plots.require_matplotlib()
        steps = {
            "learning_curves": lambda: plots.plot_learning_curves(
                model.metadata.get("history") or [], out / "a.png"),
            "confusion_matrix": lambda: plots.plot_confusion(ev.confusion, out / "b.png"),
            "mistakes": lambda: plots.plot_mistakes(data.x_test, ev.labels, ev.probabilities,
                                                    out / "c.png"),
            "hidden_units": lambda: plots.plot_hidden_units(
                model.params["W1"], model.params["W2"],
                unit_importance(ev.mean_activation, model.params["W2"]), out / "d.png"),
            "confidence": lambda: plots.plot_confidence(ev.probabilities, ev.labels,
                                                        out / "e.png"),
        }
        for name, step in steps.items():
            figures[name] = round(timed(step)[1], 3)
        _, report_seconds = timed(plots.write_report, model, ev, data.x_test, out / "r")
    print(json.dumps({
        "benchmark": "report", "hidden": model.hidden, "images": len(ev.labels),
        "evaluate_seconds": round(evaluate_seconds, 3),
        "format_text_seconds": round(text_seconds, 4),
        "plot_seconds": figures, "write_report_seconds": round(report_seconds, 3),
        "python": platform.python_version(), "machine": platform.machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
