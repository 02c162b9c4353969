"""A sweep's search space: the TOML file of [fixed] fields and [params.NAME] ranges, checked.

    load_space / parse_space  a search-space file (or its parsed table) -> Space, every
                              name, range and value checked as Config checks it
    Param, Space              one searched field; the whole space, and each trial's Config

A search space file:

    [fixed]                    # any Config fields, the same in every trial
    preset = "fast"            # the preset the other fields replace (default "fast")
    epochs = 6
    [params.lr]                # a float range; log = true samples it log-uniformly
    low = 0.05
    high = 0.5
    log = true
    [params.hidden]            # an int range, in steps of 128
    low = 256
    high = 2048
    step = 128
    [params.schedule]          # a choice
    choices = ["cosine", "onecycle"]

Everything is checked before anything is stored or run: numbers must be finite and
within Config's limits (a NaN in [fixed] would otherwise be pinned in the study), a
choice list holds at most MAX_CHOICES values (each trial stores the space), and the grid
sampler at most MAX_GRID combinations, counted without listing them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import PRESETS, Config, check_value, read_table
from .errors import ConfigError

MAX_CHOICES = 1000  # values in one choices list
MAX_GRID = 100_000  # combinations the grid sampler may be asked to try


@dataclass(frozen=True)
class Param:
    """One searched Config field: a range (low, high, optional log or step) or choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this field's value."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if _field_type(self.name) == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def grid_size(self) -> int:
        """How many values `grid` gives, counted without listing them."""
        if self.choices is not None:
            return len(self.choices)
        if self.step is None and _field_type(self.name) != "int":
            raise ConfigError(f"params.{self.name}: the grid sampler needs choices or a step "
                              "for every parameter")
        return math.floor((self.high - self.low) / (self.step or 1) + 1e-9) + 1

    def grid(self) -> list[Any]:
        """Every value this parameter can take, for the grid sampler (at most MAX_GRID)."""
        if self.choices is not None:
            return list(self.choices)
        count = self.grid_size()
        if count > MAX_GRID:
            raise ConfigError(f"params.{self.name}: the grid sampler would try {count:,} "
                              f"values, more than {MAX_GRID:,}; give a larger step")
        step = self.step or 1
        values = [self.low + i * step for i in range(count)]
        return [int(v) for v in values] if _field_type(self.name) == "int" else values

    def to_dict(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


@dataclass(frozen=True)
class Space:
    """A search space: fixed Config fields, and the searched ones."""

    fixed: dict[str, Any]
    params: dict[str, Param]

    def config(self, values: dict[str, Any]) -> Config:
        """The Config for one trial: the preset, then the fixed fields, then `values`."""
        base = PRESETS[self.fixed.get("preset", "fast")]
        return dataclasses.replace(base, **self.fixed, **values)

    def to_dict(self) -> dict[str, Any]:
        return {"fixed": dict(self.fixed),
                "params": {name: p.to_dict() for name, p in self.params.items()}}


FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(Config)}  # "int", "float", ...


def _field_type(name: str) -> str:
    return FIELD_TYPES[name]


def load_space(path: str | Path, sampler: str | None = None) -> Space:
    """Read a TOML search-space file; every error names the file and the bad entry.
    With sampler "grid", the grid must be small enough to run (`check_grid`)."""
    path = Path(path)
    data = read_table(path, "the search space")
    try:
        space = parse_space(data)
        if sampler == "grid":
            check_grid(space)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return space


def check_grid(space: Space) -> None:
    """Refuse a grid of more than MAX_GRID points (counted, never listed)."""
    size = math.prod(p.grid_size() for p in space.params.values())
    if size > MAX_GRID:
        raise ConfigError(f"the grid sampler would try {size:,} combinations, more than "
                          f"{MAX_GRID:,}; give larger steps or fewer choices")


def parse_space(data: dict[str, Any]) -> Space:
    """Check a search space given as {"fixed": {...}, "params": {name: {...}}}."""
    unknown = sorted(set(data) - {"fixed", "params"})
    if unknown:
        raise ConfigError(f"unknown section {unknown[0]!r}; a search space has [fixed] and "
                          "[params.NAME] tables")
    fixed_raw, params_raw = data.get("fixed", {}), data.get("params", {})
    if not isinstance(fixed_raw, dict) or not isinstance(params_raw, dict):
        raise ConfigError("[fixed] and [params] must be tables")
    fixed = {name: _checked(name, value, "[fixed]") for name, value in fixed_raw.items()}
    if "preset" in fixed and fixed["preset"] not in PRESETS:
        raise ConfigError(f"fixed.preset: unknown preset {fixed['preset']!r}; choose from "
                          f"{', '.join(PRESETS)}")
    if not params_raw:
        raise ConfigError("no [params.NAME] table: nothing to search")
    params = {name: _parse_param(name, spec, fixed) for name, spec in params_raw.items()}
    space = Space(fixed, params)
    _check_config(space, {}, "[fixed]")
    if space.config({}).val_split <= 0:
        raise ConfigError("val_split must be > 0: the sweep chooses on validation accuracy")
    return space


def _parse_param(name: str, spec: Any, fixed: dict[str, Any]) -> Param:
    where = f"params.{name}"
    if name not in FIELD_TYPES:
        raise ConfigError(f"{where}: unknown config field {name!r}")
    if name == "preset":
        raise ConfigError(f"{where}: the preset cannot be searched; set it in [fixed]")
    if name in fixed:
        raise ConfigError(f"{where}: {name} is also in [fixed]")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a table with low/high or choices, got {spec!r}")
    extra = sorted(set(spec) - {"low", "high", "log", "step", "choices"})
    if extra:
        raise ConfigError(f"{where}: unknown key {extra[0]!r} (expected low, high, log, step "
                          "or choices)")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise ConfigError(f"{where}: give either choices or low/high, not both")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}.choices must be a non-empty list, got "
                              f"{str(choices)[:60]}")
        if len(choices) > MAX_CHOICES:
            raise ConfigError(f"{where}.choices holds {len(choices):,} values, more than "
                              f"{MAX_CHOICES}")
        checked = tuple(_checked(name, c, where) for c in choices)
        if len(set(checked)) < len(checked):
            raise ConfigError(f"{where}.choices repeats a value: {choices!r}")
        param = Param(name, choices=checked)
        for value in checked:
            _check_config_value(fixed, name, value, where)
        return param
    kind = _field_type(name)
    if kind not in ("int", "float"):
        raise ConfigError(f"{where}: {name} is a {kind}; give choices = [...]")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where} needs both low and high (or choices)")
    low, high = _checked(name, spec["low"], where), _checked(name, spec["high"], where)
    log = spec.get("log", False)
    step = spec.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log must be true or false, got {log!r}")
    if not all(math.isfinite(v) for v in (low, high)) or not low < high:
        raise ConfigError(f"{where}: need low < high, got low={low!r}, high={high!r}")
    if step is not None:
        step = _checked(name, step, where)
        if not step > 0:
            raise ConfigError(f"{where}.step must be > 0, got {step!r}")
        if log:
            raise ConfigError(f"{where}: use log or step, not both")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {low!r}")
    for value in (low, high):
        _check_config_value(fixed, name, value, where)
    return Param(name, low, high, log, step)


def _checked(name: str, value: Any, where: str) -> Any:
    try:
        return check_value(name, value)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _check_config_value(fixed: dict[str, Any], name: str, value: Any, where: str) -> None:
    _check_config(Space(fixed, {}), {name: value}, where)


def _check_config(space: Space, values: dict[str, Any], where: str) -> None:
    try:
        space.config(values)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None
