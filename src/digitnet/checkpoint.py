"""Checkpoints: a model file that can resume training exactly where it stopped.

A checkpoint is a model file (modelfile.py) that also holds the optimizer's buffers
("opt.v.W1", ...), the best weights so far when early stopping ("best.W1", ...), and in
its metadata a "checkpoint" entry: epochs done, history, the random generator's state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .errors import ModelFileError
from .modelfile import PARAM_NAMES, config_from_metadata, load_arrays, model_metadata, save_arrays
from .train import Best, TrainState


def save_checkpoint(path: str | Path, state: TrainState, config: Config,
                    metadata: dict[str, Any]) -> None:
    """Write a resumable checkpoint of a `train.TrainState` (weights, optimizer, RNG, history)."""
    arrays = dict(state.params)
    arrays.update({f"opt.{k}": v for k, v in state.opt_state.items()})
    meta = model_metadata(state.params, config, metadata)
    meta["checkpoint"] = {
        "epoch": state.epoch,
        "history": state.history,
        "rng_state": state.rng.bit_generator.state,
        "best": None if state.best is None else {"val_accuracy": state.best.val_accuracy,
                                                 "epoch": state.best.epoch},
    }
    if state.best is not None:
        arrays.update({f"best.{k}": v for k, v in state.best.params.items()})
    save_arrays(path, arrays, meta)


def load_checkpoint(path: str | Path) -> tuple[Config, TrainState]:
    """Read a checkpoint written by `save_checkpoint`: returns (config, train.TrainState)."""
    arrays, meta = load_arrays(path)
    info = meta.get("checkpoint")
    if not isinstance(info, dict):
        raise ModelFileError(f"{path}: a model file, not a checkpoint (no optimizer state)")
    config = config_from_metadata(meta, path)
    try:
        rng = np.random.default_rng()
        rng.bit_generator.state = info["rng_state"]
        best = None
        if info["best"] is not None:
            best_params = {k[5:]: v for k, v in arrays.items() if k.startswith("best.")}
            best = Best(float(info["best"]["val_accuracy"]), int(info["best"]["epoch"]),
                        best_params)
        state = TrainState(
            params={k: v.copy() for k, v in arrays.items() if k in PARAM_NAMES},
            opt_state={k[4:]: v.copy() for k, v in arrays.items() if k.startswith("opt.")},
            rng=rng, epoch=int(info["epoch"]), history=list(info["history"]), best=best,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: damaged checkpoint state ({e})") from None
    return config, state
