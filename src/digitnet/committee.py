"""A committee: several trained networks averaged, saved as one wider network.

    digitnet committee a.npz b.npz --out both.npz

Networks trained alike from different seeds make somewhat different mistakes, and the
mean of their outputs is the classic way to make fewer (whether it does is measured:
two `robust` networks averaged landed between the two, see docs/experiments.md).
`network.side_by_side` does the math: the mean of K
one-hidden-layer networks is itself one (784, H_1 + ... + H_K, 10) network, so the
result is an ordinary model file that every command, the web page and the ONNX export
run unchanged.

`combine` checks that the members can be averaged (they read their inputs the same way,
were trained on the same data, and held out the same validation images: give networks
meant for one committee the same `split_seed`), then measures the committee itself:
its MNIST test accuracy, and its "not a digit" threshold set on those shared validation
images, which none of the members trained on. Each member's config, figures and
history are kept in the metadata under "committee".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .config import Config
from .data import Mnist
from .errors import ConfigError
from .files import json_text
from .model import Model, model_path
from .modelfile import MAX_METADATA_BYTES, as_stored, read_model_header
from .network import side_by_side
from .train import measure

# Config fields that decide what a network's inputs are, or which images it held out:
# members must agree on these (the rest, such as seed, hidden and epochs, may differ).
MUST_AGREE = ("input_scale", "deskew", "biases", "dtype", "loss", "val_split")


METADATA_MARGIN = 16 * 1024  # bytes of a committee's metadata besides its members' entries


@dataclasses.dataclass(frozen=True)
class Member:
    """A member as its file's header describes it, before any weight is read."""

    config: Config
    metadata: dict[str, Any]


def load_members(names: list[str], data: Mnist) -> list[Model]:
    """Load the models a committee is made of: every file's header is checked first, and
    the members against each other (`check_members`), before any file's weights are read."""
    check_members([Member(*read_model_header(model_path(name))) for name in names], data)
    return [Model.load(name) for name in names]


def member_summary(model: Model | Member) -> dict[str, Any]:
    """What the committee's metadata keeps of one member: its config and its figures."""
    keep = ("test_accuracy", "test_loss", "train_seconds", "reject_threshold", "history",
            "created", "digitnet_version")
    return {"config": model.config.to_dict(),
            **{key: model.metadata[key] for key in keep if key in model.metadata}}


def check_members(members: list[Model] | list[Member], data: Mnist) -> None:
    """Raise ConfigError naming the first field on which the members cannot be averaged,
    or when the committee would be too wide or its metadata too large for a model file."""
    if len(members) < 2:
        raise ConfigError("a committee needs at least two models")
    first = members[0].config
    for i, model in enumerate(members[1:], start=2):
        for name in MUST_AGREE:
            if getattr(model.config, name) != getattr(first, name):
                raise ConfigError(f"model {i} has {name} {getattr(model.config, name)!r}, "
                                  f"model 1 {getattr(first, name)!r}: they must agree")
        if model.config.validation_seed != first.validation_seed:
            raise ConfigError(
                f"model {i} held out other validation images (split seed "
                f"{model.config.validation_seed}, model 1 {first.validation_seed}): train the "
                f"members with the same --split-seed")
    for i, model in enumerate(members, start=1):
        trained_on = model.metadata.get("data_sha256")
        if trained_on is not None and trained_on != data.sha256:
            raise ConfigError(f"model {i} was trained on other data than the MNIST files given")
    hidden = sum(model.config.hidden for model in members)
    try:
        dataclasses.replace(first, hidden=hidden)
    except ValueError as e:
        raise ConfigError(f"the committee would have {hidden:,} hidden units: {e}") from None
    size = len(json_text([member_summary(m) for m in members]).encode()) + METADATA_MARGIN
    if size > MAX_METADATA_BYTES:
        raise ConfigError(f"the committee's metadata (each member's config and history) would "
                          f"take about {size:,} bytes, more than the {MAX_METADATA_BYTES:,} a "
                          f"model file may hold")


def combine(members: list[Model], data: Mnist, stored_as: str | None = None) -> Model:
    """The committee of `members` (each a trained Model) as one Model, measured on `data`.

    Its config is the first member's with `hidden` the members' total; its metadata
    records the committee's test accuracy and loss on data's test set, its
    reject_threshold (when the first member's config has a reject_rate) set on the
    validation images the members held out, and every member under "committee".
    stored_as="float16": the weights are rounded as a float16 file will hold them
    before anything is measured (save the Model with the same stored_as).
    """
    check_members(members, data)
    params = side_by_side([m.params for m in members])
    if stored_as is not None:
        params = as_stored(params, stored_as)
    config: Config = dataclasses.replace(members[0].config, hidden=int(params["W1"].shape[1]))
    meta: dict[str, Any] = {
        **measure(params, config, data),
        "train_seconds": sum(m.metadata.get("train_seconds") or 0.0 for m in members),
        "data_source": data.source, "data_sha256": data.sha256,
        "committee": [member_summary(m) for m in members],
    }
    return Model(params, config, meta)
