"""Pictures of what a trained network does: PNG plots and an HTML page that shows them.

    write_report           every plot below, metrics.json and index.html, into one directory
    plot_learning_curves   loss and train/validation/test accuracy per epoch, from a history
    plot_confusion         the confusion matrix as a heatmap with counts in the cells
    plot_mistakes          the misclassified images the network was surest about
    plot_hidden_units      first-layer weights of the most important hidden units, as 28x28
    plot_confidence        how confident the correct and the wrong predictions were

matplotlib is an optional extra (`pip install digitnet[plot]`): it is imported only inside
these functions, and a missing install raises MissingExtraError with that hint. Figures are
drawn on matplotlib's Agg canvas through the object API (no pyplot), so nothing here
touches global plotting state or needs a display. The numbers come from evaluation.py and
metrics.py; this module only draws them.
"""

from __future__ import annotations

import contextlib
import html
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .constants import architecture
from .errors import MissingExtraError, ModelFileError, OutputError
from .evaluation import Evaluation, unit_importance
from .files import atomic_write, json_text, staged_directory, write_text
from .model import Model

FILES = {  # file name -> what it shows (also the captions in index.html)
    "learning_curves.png": "Learning curves",
    "confusion_matrix.png": "Confusion matrix",
    "mistakes.png": "Most confident mistakes",
    "hidden_units.png": "What the hidden units look for",
    "confidence.png": "Confidence of correct and wrong predictions",
}
REPORT_FILES = (*FILES, "metrics.json", "index.html")  # everything write_report writes
GALLERY_SIZE = 24  # misclassified images shown (4 rows of 6)
UNITS_SHOWN = 24  # hidden units shown (4 rows of 6)
DPI = 100

_STYLE = {  # readable at a glance, on screen and in the HTML page
    "font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11,
    "ytick.labelsize": 11, "legend.fontsize": 11, "figure.titlesize": 15,
    "axes.spines.top": False, "axes.spines.right": False,
}
_CORRECT, _WRONG, _DIAGONAL = "#2e7d32", "#c62828", "#d5ecd4"


def require_matplotlib() -> Any:
    """Import and return matplotlib, or raise MissingExtraError saying how to install it."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "plots need matplotlib, which is not installed; install digitnet[plot] "
            "(pip install 'digitnet[plot]')") from None
    return matplotlib


@contextlib.contextmanager
def _figure(path: str | Path, width: float, height: float) -> Iterator[Any]:
    """Yield a new Agg figure (width x height inches) in the house style; save it to path."""
    matplotlib = require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI, facecolor="white"))


def _message(ax: Any, text: str) -> None:
    """Write a centred note in an otherwise empty axes."""
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)


# ---- learning curves ----------------------------------------------------------------------

_ACCURACY_SERIES = (  # history key, legend label, colour
    ("train_accuracy", "train (5,000-image sample)", "#1f77b4"),
    ("val_accuracy", "validation", "#ff7f0e"),
    ("test_accuracy", "test", _CORRECT),
)


def plot_learning_curves(history: Sequence[dict[str, Any]], path: str | Path,
                         title: str = "Learning curves") -> Path:
    """Two panels from a training history: loss per epoch, and accuracy (%) per epoch.

    history: one dict per epoch with "epoch" and "loss", and any of "train_accuracy",
    "val_accuracy", "test_accuracy" (0..1), as `fit` returns and model files store.
    Accuracy series absent from the history are left out (and the panel says so).
    """
    path = Path(path)
    records = [r for r in history if isinstance(r, dict) and "epoch" in r and "loss" in r]
    with _figure(path, 12, 5) as fig:
        fig.suptitle(title)
        loss_ax, acc_ax = fig.subplots(1, 2)
        if not records:
            _message(loss_ax, "This model holds no per-epoch history,\nso there is no curve "
                              "to draw.")
            acc_ax.axis("off")
            return path
        from matplotlib.ticker import MaxNLocator, PercentFormatter

        epochs = [r["epoch"] for r in records]
        loss_ax.plot(epochs, [r["loss"] for r in records], "o-", color="#444444", lw=2)
        loss_ax.set(title="Training loss (mean over each epoch)", xlabel="epoch", ylabel="loss")
        drawn = []
        for key, label, colour in _ACCURACY_SERIES:
            points = [(r["epoch"], 100 * r[key]) for r in records if key in r]
            if points:
                xs, ys = zip(*points, strict=True)
                acc_ax.plot(xs, ys, "o-", color=colour, lw=2,
                            label=f"{label}: {ys[-1]:.2f}% at epoch {xs[-1]}")
                drawn.append(label)
        acc_ax.set(title="Accuracy after each epoch", xlabel="epoch", ylabel="accuracy")
        acc_ax.yaxis.set_major_formatter(PercentFormatter(decimals=None))  # as the range needs
        if drawn:
            low, high = acc_ax.get_ylim()
            if high - low < 1:  # span at least one point, so ticks are distinct
                middle = (low + high) / 2
                acc_ax.set_ylim(middle - 0.5, middle + 0.5)
            acc_ax.legend(loc="best")
        else:
            _message(acc_ax, "No accuracy was recorded during training.")
        for ax in (loss_ax, acc_ax):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if len(epochs) == 1:
                ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    return path


# ---- confusion matrix ---------------------------------------------------------------------

def plot_confusion(confusion: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Heatmap of confusion (k, k), rows = true class, with every count written in its cell.

    Correct predictions (the diagonal) are plain green; mistakes are shaded from white to
    red on their own scale, so a handful of errors is visible next to ~1,000 correct ones.
    """
    path = Path(path)
    confusion = np.asarray(confusion)
    k = len(confusion)
    off = np.ma.masked_array(confusion, mask=np.eye(k, dtype=bool))
    worst = max(int(off.max()) if off.count() else 0, 1)
    with _figure(path, 9, 7.6) as fig:
        from matplotlib import colormaps

        ax = fig.subplots()
        cmap = colormaps["Reds"].with_extremes(bad=_DIAGONAL)  # masked cells: the diagonal
        image = ax.imshow(off, cmap=cmap, vmin=0, vmax=worst)
        for t in range(k):
            for p in range(k):
                count = int(confusion[t, p])
                if t == p:
                    style = {"color": "#1b4d1e", "fontweight": "bold"}
                elif count == 0:
                    style = {"color": "#bbbbbb"}
                else:
                    style = {"color": "white" if count > 0.6 * worst else "black"}
                ax.text(p, t, str(count), ha="center", va="center", fontsize=11, **style)
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set(xlabel="predicted class", ylabel="true class")
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        bar = fig.colorbar(image, ax=ax, shrink=0.85)
        bar.set_label("misclassified images (off-diagonal cells)")
        total, correct = int(confusion.sum()), int(np.trace(confusion))
        ax.set_title(title or f"Confusion matrix: {correct:,} of {total:,} correct "
                              f"({100 * correct / max(total, 1):.2f}%); diagonal in green")
    return path


# ---- gallery of mistakes ------------------------------------------------------------------

def plot_mistakes(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray,
                  path: str | Path, top: int = GALLERY_SIZE) -> Path:
    """Gallery of the `top` misclassified images with the highest predicted probability.

    images (n, 28, 28) uint8, labels (n,), probabilities (n, k). Each image is labelled
    with its true class, the predicted class and the probability given to the prediction.
    """
    path = Path(path)
    chosen = metrics.confident_mistakes(probabilities, labels, top)
    n_wrong = int((np.asarray(probabilities).argmax(axis=1) != labels).sum())
    cols = 6
    rows = max(1, -(-len(chosen) // cols))
    with _figure(path, 11, 0.6 + 2.25 * rows) as fig:
        fig.suptitle(f"The {len(chosen)} most confident mistakes (of {n_wrong:,} "
                     f"misclassified images)")
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax in axes:
            ax.axis("off")
        if not len(chosen):
            _message(axes[0], "No mistakes: every image was classified correctly.")
        for ax, i in zip(axes, chosen, strict=False):
            predicted = int(np.argmax(probabilities[i]))
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(f"true {labels[i]} → pred {predicted}\n"
                         f"p = {100 * probabilities[i, predicted]:.1f}%", fontsize=12)
    return path


# ---- hidden units -------------------------------------------------------------------------

def plot_hidden_units(w1: np.ndarray, w2: np.ndarray, importance: np.ndarray,
                      path: str | Path, top: int = UNITS_SHOWN,
                      inked: np.ndarray | None = None) -> Path:
    """First-layer weights W1[:, j] (784,) as 28x28 images for the `top` most important units.

    w1 (784, H), w2 (H, k), importance (H,) (see evaluation.unit_importance). Red pixels
    excite the unit when inked, blue ones inhibit it; each image has its own symmetric
    colour scale. Panel titles name the class the unit votes for most and least (W2 row).
    inked (784,) bool, optional: pixels that carry ink in some image. The weights of the
    others never affect an output (they keep their random initial values), so they are
    drawn grey instead of as noise.
    """
    path = Path(path)
    w1, w2, importance = np.asarray(w1), np.asarray(w2), np.asarray(importance)
    order = np.argsort(-importance, kind="stable")[:top]
    cols = 6
    rows = max(1, -(-len(order) // cols))
    with _figure(path, 11, 1.2 + 2.3 * rows) as fig:
        from matplotlib import colormaps

        cmap = colormaps["RdBu_r"].with_extremes(bad="#d0d0d0")
        note = "; grey: pixels never inked" if inked is not None else ""
        fig.suptitle(f"First-layer weights of the {len(order)} most important hidden units "
                     f"(of {w1.shape[1]})\nred: ink there excites the unit, blue: inhibits "
                     f"it{note}\nimportance = mean activation × length of outgoing weights",
                     fontsize=13)
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax in axes:
            ax.axis("off")
        for ax, j in zip(axes, order, strict=False):
            weights = w1[:, j]
            if inked is not None:
                weights = np.ma.masked_array(weights, mask=~np.asarray(inked, bool))
            limit = float(np.abs(weights).max()) or 1.0
            ax.imshow(weights.reshape(28, 28), cmap=cmap, vmin=-limit, vmax=limit)
            ax.set_title(f"unit {j}\nfor {int(np.argmax(w2[j]))}, "
                         f"against {int(np.argmin(w2[j]))}", fontsize=11)
    return path


# ---- confidence ---------------------------------------------------------------------------

def plot_confidence(probabilities: np.ndarray, labels: np.ndarray, path: str | Path,
                    note: str = "") -> Path:
    """Histograms of the predicted class's probability, for correct and for wrong predictions.

    probabilities (n, k), labels (n,). The count axis is logarithmic, since correct
    predictions usually outnumber wrong ones a hundredfold. The probability axis runs from
    1/k (a uniform guess) to 100%, or only to just past the largest probability when all
    are below 50%, as for a squared-error network's softmax. `note` is added to the title.
    """
    path = Path(path)
    probabilities = np.asarray(probabilities)
    sure = metrics.confidence(probabilities)
    right = probabilities.argmax(axis=1) == labels
    k = probabilities.shape[1]
    top = 1.0 if sure.max() > 0.5 else min(1.0, np.ceil(sure.max() * 20 + 1e-9) / 20)
    bins = np.linspace(1 / k, top, 37)
    with _figure(path, 10, 5.5 + 0.3 * bool(note)) as fig:
        from matplotlib.ticker import PercentFormatter

        ax = fig.subplots()
        for mask, name, colour in ((right, "correct", _CORRECT), (~right, "wrong", _WRONG)):
            if mask.any():
                ax.hist(sure[mask], bins=bins, color=colour, alpha=0.6, edgecolor=colour,
                        label=f"{name}: {int(mask.sum()):,} images, median confidence "
                              f"{100 * np.median(sure[mask]):.1f}%")
        ax.set_yscale("log")
        ax.set(xlabel="probability given to the predicted class",
               ylabel="images (log scale)", xlim=(1 / k, top),
               title="How sure was the network? Correct vs wrong predictions"
                     + (f"\n{note}" if note else ""))
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    return path


# ---- the whole report ---------------------------------------------------------------------

def _model_summary(model: Model) -> dict[str, Any]:
    meta, config = model.metadata, model.config
    history = meta.get("history") or []
    return {"architecture": architecture(model.hidden), "preset": config.preset,
            "loss function": config.loss, "optimizer": config.optimizer,
            "epochs trained": len(history) if history else None,
            "training seconds": (f"{meta['train_seconds']:.1f}"
                                 if isinstance(meta.get("train_seconds"), (int, float)) else None),
            "trained on": meta.get("data_source"), "created": meta.get("created"),
            "digitnet version": meta.get("digitnet_version")}


def write_report(model: Model, evaluation: Evaluation, images: np.ndarray,
                 out_dir: str | Path, model_name: str = "model") -> dict[str, Path]:
    """Write every plot, metrics.json and index.html into out_dir, as a unit (all of them
    replace the old report, or none does); returns name -> path.

    images (n, 28, 28) uint8 are the images `evaluation` was computed on. A model without
    a per-epoch history (a committee, the bundled model) gets no learning-curve plot.
    """
    require_matplotlib()
    history = stored_history(model.metadata.get("history"), model_name)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create report directory ({e.strerror or e})") from None
    ev = evaluation
    importance = unit_importance(ev.mean_activation, model.params["W2"])
    plots = {name: title for name, title in FILES.items()
             if history or name != "learning_curves.png"}
    with staged_directory(out) as stage:  # all files, or (interrupted, disk full) none
        if history:
            plot_learning_curves(history, stage / "learning_curves.png",
                                 f"Learning curves of {model_name} "
                                 f"({architecture(model.hidden)}, {model.config.preset} preset)")
        plot_confusion(ev.confusion, stage / "confusion_matrix.png")
        plot_mistakes(images, ev.labels, ev.probabilities, stage / "mistakes.png")
        plot_hidden_units(model.params["W1"], model.params["W2"], importance,
                          stage / "hidden_units.png",
                          inked=images.reshape(len(images), -1).any(axis=0))
        plot_confidence(ev.probabilities, ev.labels, stage / "confidence.png",
                        "" if ev.loss_function == "cross_entropy" else
                        f"(softmax of a {ev.loss_function} network's scores, which it was not "
                        "trained to calibrate)")
        figures = {"model": model_name, **ev.to_dict()}
        write_text(stage / "metrics.json", json_text(figures, indent=2) + "\n", "metrics")
        write_text(stage / "index.html",
                   _index_html(model_name, _model_summary(model), ev, plots), "page")
    return {name: out / name for name in REPORT_FILES if name in plots or name not in FILES}


def stored_history(history: Any, model_name: str = "model") -> list[dict[str, Any]]:
    """A model file's stored per-epoch history, checked: a list of objects, each with a
    whole "epoch" and a finite "loss", and any accuracies as numbers in 0..1. Raises
    ModelFileError naming the model and the first bad record (the file's weights may be
    fine; only its history cannot be drawn)."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise ModelFileError(f"{model_name}: stored history is malformed: expected a list of "
                             f"epochs, got {type(history).__name__}")
    for i, record in enumerate(history):
        problem = _history_problem(record)
        if problem:
            raise ModelFileError(f"{model_name}: stored history is malformed: record {i} "
                                 f"{problem}")
    return history


def _history_problem(record: Any) -> str | None:
    def number(value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))

    if not isinstance(record, dict):
        return f"is {type(record).__name__}, not an object"
    if not isinstance(record.get("epoch"), int) or isinstance(record.get("epoch"), bool):
        return f"has epoch {record.get('epoch')!r}, not a whole number"
    if not number(record.get("loss")):
        return f"has loss {record.get('loss')!r}, not a finite number"
    for key, _, _ in _ACCURACY_SERIES:
        if key in record and not (number(record[key]) and 0 <= record[key] <= 1):
            return f"has {key} {record[key]!r}, not a number in 0..1"
    return None


_CAPTIONS = {
    "learning_curves.png": "Loss and accuracy after each training epoch, as stored in the "
                           "model file. Train accuracy is measured on a fixed sample of "
                           "5,000 training images.",
    "confusion_matrix.png": "Rows are the true class, columns the prediction. Green cells "
                            "are correct; red shading counts the mistakes.",
    "mistakes.png": "Misclassified images the network gave the highest probability to its "
                    "wrong answer.",
    "hidden_units.png": "Each image is one hidden unit's 784 input weights laid out as the "
                        "28x28 picture it responds to: red pixels push the unit on when "
                        "inked, blue pixels push it off. Units are ranked by importance: "
                        "their mean activation on these images times the length of their "
                        "outgoing weight vector, i.e. the typical size of their "
                        "contribution to the ten outputs.",
    "confidence.png": "The probability the network gave its predicted class, for correct "
                      "and for wrong predictions (log scale).",
}


def _index_html(model_name: str, summary: dict[str, Any], ev: Evaluation,
                plots: dict[str, str]) -> str:
    """A self-contained page: headline figures, tables, and every plot with a caption."""
    e = html.escape
    headline = (f"{100 * ev.accuracy:.2f}% test accuracy &middot; test loss {ev.loss:.4f} "
                f"({e(ev.loss_function)}) &middot; {ev.n_errors:,} of {len(ev.labels):,} "
                f"images misclassified")
    facts = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>"
                    for k, v in summary.items() if v is not None)
    facts += f"<tr><th>evaluated on</th><td>{e(ev.source)}</td></tr>"
    per_class = "".join(
        f"<tr><td>{c}</td><td>{ev.precision[c]:.4f}</td><td>{ev.recall[c]:.4f}</td>"
        f"<td>{ev.f1[c]:.4f}</td><td>{ev.support[c]}</td></tr>"
        for c in range(len(ev.confusion)))
    per_class += (f"<tr class=mean><td>mean</td><td>{ev.precision.mean():.4f}</td>"
                  f"<td>{ev.recall.mean():.4f}</td><td>{ev.f1.mean():.4f}</td>"
                  f"<td>{len(ev.labels)}</td></tr>")
    pairs = "".join(f"<tr><td>{p.true} &rarr; {p.predicted}</td><td>{p.count}</td>"
                    f"<td>{100 * p.share:.2f}%</td></tr>" for p in ev.pairs)
    sections = "".join(
        f"<section><h2>{e(title)}</h2><p>{e(_CAPTIONS[name])}</p>"
        f"<img src=\"{name}\" alt=\"{e(title)}\"></section>"
        for name, title in plots.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>digitnet report: {e(model_name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }}
.headline {{ font-size: 1.35em; font-weight: 600; }}
table {{ border-collapse: collapse; margin: 0.5em 2em 1em 0; }}
th, td {{ padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }}
th {{ text-align: left; }}
tr.mean td {{ font-weight: 600; }}
.tables {{ display: flex; flex-wrap: wrap; align-items: flex-start; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
</style>
</head>
<body>
<h1>digitnet report: {e(model_name)}</h1>
<p class="headline">{headline}</p>
<div class="tables">
<table><caption>Model</caption>{facts}</table>
<table><caption>Per class</caption>
<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{per_class}</table>
<table><caption>Most confused pairs</caption>
<tr><th>true &rarr; predicted</th><th>images</th><th>of the class</th></tr>
{pairs or '<tr><td colspan=3>none</td></tr>'}</table>
</div>
<p>All figures as JSON: <a href="metrics.json">metrics.json</a>.</p>
{sections}
</body>
</html>
"""
