"""A hyper-parameter search space written over the Configuration's own keys.

```yaml
LearningRate: {low: 1.0e-4, high: 1.0e-2, log: true}   # a range (float key: continuous)
NoOfFilters: {low: 4, high: 16, step: 2}               # a range (int key: whole numbers)
NoOfUDense1: [64, 128, 256]                            # a choice
KernelSize: [[3, 3], [5, 5]]                           # a choice of pairs
Optimizer: [adam, adamw]
```

Every bound and choice is checked against the base configuration when the file is read, so a mistake stops
the search before any training, with one line naming the file and the key.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferkit.config import Configuration
from ferkit.config.configuration import read_yaml_file
from ferkit.errors import ConfigError

NOT_SEARCHABLE = {
    "NoOfClasses": "it is taken from the data",
    "ModelPath": "every trial writes its own model",
}
RANGE_FIELDS = {"low", "high", "log", "step"}


class SearchSpaceError(ConfigError):
    """An invalid search-space file, key, range or choice."""


@dataclass(frozen=True)
class Range:
    """Numbers from `low` to `high` (inclusive), optionally on a log scale or in steps."""

    key: str
    low: float
    high: float
    integer: bool
    log: bool = False
    step: float | None = None

    def suggest(self, trial) -> Any:
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1),
                                     log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def optuna_value(self, value: Any, base: Configuration) -> Any | None:
        """`value` (of `base`) as this parameter's Optuna value, or None when it lies outside the range."""
        number = value[0] if isinstance(value, tuple) and len(set(value)) == 1 else value
        if isinstance(number, bool) or not isinstance(number, int | float):
            return None
        if not self.low <= number <= self.high:
            return None
        if self.step and abs((number - self.low) / self.step - round((number - self.low) / self.step)) > 1e-9:
            return None
        return int(number) if self.integer else float(number)

    def value_of(self, optuna_value: Any) -> Any:
        return optuna_value


@dataclass(frozen=True)
class Choice:
    """One of a list of values. Values Optuna cannot store (pairs) are stored as their JSON text."""

    key: str
    values: tuple[Any, ...]

    @property
    def labels(self) -> tuple[Any, ...]:
        return tuple(_label(v) for v in self.values)

    def suggest(self, trial) -> Any:
        return self.value_of(trial.suggest_categorical(self.key, self.labels))

    def value_of(self, optuna_value: Any) -> Any:
        return self.values[self.labels.index(optuna_value)]

    def optuna_value(self, value: Any, base: Configuration) -> Any | None:
        """`value` (of `base`) as this parameter's Optuna value, or None when it is not one of the choices."""
        for choice, label in zip(self.values, self.labels, strict=True):
            if getattr(base.with_updates(**{self.key: choice}), self.key) == value:
                return label
        return None


def _label(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else json.dumps(value)


@dataclass(frozen=True)
class SearchSpace:
    """The searched keys and how each is drawn."""

    parameters: dict[str, Range | Choice]
    source: str

    def suggest(self, trial) -> dict[str, Any]:
        """Draw one value per key from an Optuna trial: Configuration key → value."""
        return {key: parameter.suggest(trial) for key, parameter in self.parameters.items()}

    def values_of(self, optuna_params: dict[str, Any]) -> dict[str, Any]:
        """Optuna's stored parameters (e.g. a finished trial's) → Configuration key → value."""
        return {key: self.parameters[key].value_of(value) for key, value in optuna_params.items()
                if key in self.parameters}

    def optuna_params_of(self, config: Configuration) -> dict[str, Any] | None:
        """The Optuna parameters that reproduce `config`'s values, or None when one lies outside the space."""
        params = {}
        for key, parameter in self.parameters.items():
            value = getattr(config, key)
            found = parameter.optuna_value(value, config)
            if found is None:
                return None
            params[key] = found
        return params


def _range_kind(key: str) -> str | None:
    """'int', 'float' or None (no ranges) for a Configuration key; pairs take an int range (square sizes)."""
    annotation = Configuration.model_fields[key].annotation
    if annotation is bool:
        return None
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = typing.get_args(annotation) if union else (annotation,)
    if any(typing.get_origin(member) is tuple for member in members):
        return "int"
    return None


def _check_value(base: Configuration, source: str, key: str, value: Any, what: str) -> None:
    try:
        base.with_updates(**{key: value})
    except ConfigError as exc:
        raise SearchSpaceError(f"{source}: {key} {what} {value!r} is not valid: {exc}") from None


def _number_from_text(value: Any) -> Any:
    """YAML reads `1e-4` (no dot) as text: accept it as the number it plainly is."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_range(base: Configuration, source: str, key: str, spec: dict) -> Range:
    unknown = set(spec) - RANGE_FIELDS
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise SearchSpaceError(f"{source}: {key}: unknown range field(s) {names} (use low, high, log, step)")
    kind = _range_kind(key)
    if kind is None:
        raise SearchSpaceError(f"{source}: {key} is not numeric and cannot take a range; "
                               "give a list of choices")
    if "low" not in spec or "high" not in spec:
        raise SearchSpaceError(f"{source}: {key}: a range needs both low and high")
    low, high, log, step = (_number_from_text(spec.get(name)) for name in ("low", "high", "log", "step"))
    log = False if log is None else log
    for name, value in (("low", low), ("high", high)) + ((("step", step),) if step is not None else ()):
        if not _is_number(value):
            raise SearchSpaceError(f"{source}: {key}: {name} {value!r} is not a number")
        if kind == "int" and float(value) != int(value):
            raise SearchSpaceError(f"{source}: {key} takes whole numbers, but {name} is {value!r}")
    if not isinstance(log, bool):
        raise SearchSpaceError(f"{source}: {key}: log must be true or false, not {log!r}")
    if low >= high:
        raise SearchSpaceError(f"{source}: {key}: low {low!r} must be below high {high!r}")
    if log and low <= 0:
        raise SearchSpaceError(f"{source}: {key}: a log range needs low > 0 (got {low!r})")
    if log and step is not None:
        raise SearchSpaceError(f"{source}: {key}: a range cannot have both log and step")
    if step is not None and step <= 0:
        raise SearchSpaceError(f"{source}: {key}: step must be positive (got {step!r})")
    integer = kind == "int"
    low, high = (int(low), int(high)) if integer else (float(low), float(high))
    for name, value in (("low", low), ("high", high)):
        _check_value(base, source, key, value, name)
    return Range(key, low, high, integer=integer, log=log, step=step)


def _parse_choice(base: Configuration, source: str, key: str, values: list) -> Choice:
    if not values:
        raise SearchSpaceError(f"{source}: {key}: the list of choices is empty")
    labels = [_label(v) for v in values]
    if len(set(map(repr, labels))) != len(labels):
        raise SearchSpaceError(f"{source}: {key}: the choices {values!r} repeat a value")
    for value in values:
        _check_value(base, source, key, value, "choice")
    return Choice(key, tuple(values))


def parse_space(spec: Any, base: Configuration, source: str = "search space") -> SearchSpace:
    """Validate a mapping of Configuration key → range or choices against `base`."""
    if not isinstance(spec, dict) or not spec:
        raise SearchSpaceError(f"{source}: must be a mapping of configuration keys to ranges or choices")
    parameters: dict[str, Range | Choice] = {}
    for key, value in spec.items():
        if key not in Configuration.model_fields:
            close = difflib.get_close_matches(str(key), Configuration.model_fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SearchSpaceError(f"{source}: unknown configuration key {key!r}{hint}")
        if key in NOT_SEARCHABLE:
            raise SearchSpaceError(f"{source}: {key} cannot be searched: {NOT_SEARCHABLE[key]}")
        if isinstance(value, dict):
            parameters[key] = _parse_range(base, source, key, value)
        elif isinstance(value, list):
            parameters[key] = _parse_choice(base, source, key, value)
        else:
            raise SearchSpaceError(
                f"{source}: {key}: expected a list of choices or a range {{low, high[, log, step]}}, "
                f"got {value!r}")
    return SearchSpace(parameters, source)


def load_space(path: str | Path, base: Configuration) -> SearchSpace:
    """Read and validate a search-space YAML file."""
    spec = read_yaml_file(path, "search space file", SearchSpaceError)
    return parse_space(spec, base, str(path))
