"""`digitnet sweep report`: plots of a study and an index.html, through Optuna's
matplotlib visualizations (optimization history, parameter importances, one slice plot
per parameter). Needs digitnet[plot] (matplotlib) and digitnet[sweep] (optuna).

Only drawing lives here; the study comes from `sweep.load_study`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OutputError, SweepError
from .files import atomic_write, staged_directory, write_text
from .sweep import format_params, quiet_optuna, trial_records

TARGET = "validation accuracy"  # what the plots call the objective
CAPTIONS = {  # file name -> caption (the slice-<param>.png plots are captioned as drawn)
    "history.png": "Optimization history: each trial's validation accuracy and the best so far",
    "importance.png": "Parameter importances for validation accuracy (Optuna's default evaluator)",
}


def write_report(study: Any, out_dir: str | Path) -> dict[str, Path]:
    """Plots of the study (history, importances, one slice per parameter) and index.html,
    written into out_dir through Optuna's matplotlib visualizations. Files in out_dir with
    the report's names are replaced, as a unit (all or none); others are left alone.
    Returns name -> path."""
    from .report import require_matplotlib

    matplotlib = require_matplotlib()
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as views

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the report directory ({e.strerror or e})") \
            from None
    records = trial_records(study)
    complete = [r for r in records if r["state"] == "COMPLETE"]
    if not complete:
        raise SweepError(f"study {study.study_name!r} has no completed trial to report on")
    params = sorted({name for r in complete for name in r["params"]})
    plots: dict[str, tuple[str, Callable[[], Any]]] = {
        "history.png": (CAPTIONS["history.png"],
                        lambda: views.plot_optimization_history(study, target_name=TARGET)),
    }
    if len(complete) >= 2 and params:
        plots["importance.png"] = (CAPTIONS["importance.png"],
                                   lambda: views.plot_param_importances(study, target_name=TARGET))
    for name in params:
        plots[f"slice-{name}.png"] = (
            f"Validation accuracy against {name}",
            lambda name=name: views.plot_slice(study, params=[name], target_name=TARGET))
    written: dict[str, Path] = {}
    with quiet_optuna(), staged_directory(out) as stage:  # all files, or none
        for file, (_, draw) in plots.items():
            ax = draw()
            figure = (ax.flat[0] if isinstance(ax, np.ndarray) else ax).figure
            figure.set_size_inches(7, 4.5)
            figure.tight_layout()
            try:  # atomically, never through a symbolic link (files.atomic_write)
                atomic_write(stage / file, lambda f, fig=figure: fig.savefig(f, format="png",
                                                                             dpi=100))
            finally:
                plt.close(figure)
            written[file] = out / file
        write_text(stage / "index.html", _index_html(
            study.study_name, records, {f: caption for f, (caption, _) in plots.items()}),
            "page")
        written["index.html"] = out / "index.html"
    return written


def _cells(record: dict[str, Any]) -> list[str]:
    """A trial record as table cells: number, state, validation %, seconds, params."""
    value, seconds = record["value"], record["seconds"]
    return [str(record["number"]), record["state"],
            "" if value is None else f"{100 * value:.2f}%",
            "" if seconds is None else f"{seconds:.1f}",
            format_params(record["params"])]


def _index_html(name: str, records: list[dict[str, Any]], captions: dict[str, str]) -> str:
    e = html.escape
    figures = "\n".join(f'<figure><img src="{e(f)}" alt="{e(c)}"><figcaption>{e(c)}'
                        "</figcaption></figure>" for f, c in captions.items())
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in _cells(r)) + "</tr>" for r in records)
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>digitnet sweep: {e(name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
img{{max-width:100%}} table{{border-collapse:collapse}} td,th{{padding:2px 8px;
border-bottom:1px solid #ddd;text-align:left}}</style></head>
<body>
<h1>Sweep {e(name)}</h1>
<p>{len(records)} trials, {sum(r['state'] == 'COMPLETE' for r in records)} complete.
The objective is validation accuracy; the test set was not used.</p>
{figures}
<h2>Trials</h2>
<table><tr><th>trial</th><th>state</th><th>validation</th><th>seconds</th><th>params</th></tr>
{rows}
</table>
</body>
</html>
"""

