"""The `Configuration`: every hyper-parameter of a run, spelled as the specification spells it.

A YAML file sets the values, `--set Key=Value` overrides them, and the result is validated before any data
is read or any model is built, so a mistake stops the run with one line naming the key and the value.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ferkit.errors import ConfigError
from ferkit.files import write_text
from ferkit.limits import MAX_IMAGE_SIDE

PairOfInts = tuple[int, int]


def _as_pair(value: Any) -> Any:
    """Accept `3`, `[3, 3]` or `(3, 3)` for a 2-D size and return a pair."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, list | tuple) and len(value) == 1:
        return (value[0], value[0])
    return value


class Configuration(BaseModel):
    """All settings of a training run.

    The first twelve keys are the specification's; the rest are what a complete run needs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    Architecture: str = "lenet"
    NoOfFilters: int = Field(6, ge=1)
    KernelSize: PairOfInts = (3, 3)
    NoOfStrides: int = Field(1, ge=1)
    RegularizationRate: float = Field(1e-4, ge=0)
    PoolSize: PairOfInts = (2, 2)
    DropOutRate: float = Field(0.25, ge=0, lt=1)
    NoOfUDense1: int = Field(100, ge=1)
    NoOfUDense2: int = Field(10, ge=1)
    NoOfClasses: int | None = Field(None, ge=2)
    LearningRate: float = Field(1e-3, gt=0)
    NoOfEpochs: int = Field(30, ge=1)
    BatchSize: int = Field(32, ge=1)

    ImageSize: PairOfInts = (256, 256)
    ColorMode: Literal["grayscale", "rgb"] = "grayscale"
    ValidationSplit: float = Field(0.2, gt=0, lt=1)
    Seed: int = 42
    Patience: int = Field(5, ge=1)
    ModelPath: str | None = None

    Optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    WeightDecay: float = Field(0.0, ge=0)
    LRSchedule: Literal["constant", "cosine"] = "constant"
    WarmupEpochs: int = Field(0, ge=0)
    LabelSmoothing: float = Field(0.0, ge=0, lt=1)
    SoftLabelWeight: float = Field(0.0, ge=0, le=1)
    Augment: bool | Literal["flip"] = False
    DegradeQuality: bool = False
    DomainGap: bool = False
    CropSize: PairOfInts | None = None
    ClassWeights: bool = False
    InitialWeights: str | None = None
    Teacher: str | list[str] | None = None
    TeacherWeight: float = Field(0.5, ge=0, le=1)
    TeacherSeesAugmented: bool = False
    Labels: Literal["dataset", "ferplus"] = "dataset"

    @field_validator("Augment", mode="before")
    @classmethod
    def _augment_mode(cls, value: Any) -> Any:
        if isinstance(value, bool) or value == "flip":
            return value
        raise ValueError("must be true (full augmentation), false or 'flip' (mirror images only)")

    @field_validator("KernelSize", "PoolSize", "ImageSize", "CropSize", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        return _as_pair(value)

    @field_validator("KernelSize", "PoolSize", "ImageSize", "CropSize")
    @classmethod
    def _positive_pair(cls, value: PairOfInts | None) -> PairOfInts | None:
        if value is not None and min(value) < 1:
            raise ValueError("both sizes must be at least 1")
        return value

    @field_validator("ImageSize", "CropSize")
    @classmethod
    def _bounded_image(cls, value: PairOfInts | None) -> PairOfInts | None:
        if value is not None and max(value) > MAX_IMAGE_SIDE:
            raise ValueError(f"images larger than {MAX_IMAGE_SIDE} pixels a side are not supported")
        return value

    @model_validator(mode="after")
    def _architecture_accepts(self) -> Configuration:
        from ferkit.models import registry

        if self.Architecture not in registry.available():
            raise ValueError(
                f"unknown architecture {self.Architecture!r}; available: {', '.join(registry.available())}"
            )
        if self.CropSize is not None and (
            self.CropSize[0] > self.ImageSize[0] or self.CropSize[1] > self.ImageSize[1]
        ):
            raise ValueError(f"CropSize {list(self.CropSize)} is larger than ImageSize {list(self.ImageSize)}")
        if self.TeacherSeesAugmented and not self.Teacher:
            raise ValueError("TeacherSeesAugmented=true needs a Teacher (a model file or a list of them)")
        registry.get(self.Architecture).check(self)
        return self

    @property
    def channels(self) -> int:
        return 1 if self.ColorMode == "grayscale" else 3

    @property
    def input_size(self) -> PairOfInts:
        """Height and width of the images the network sees after cropping."""
        return self.CropSize or self.ImageSize

    @property
    def teacher_paths(self) -> list[str]:
        """`Teacher` as a list of model files (empty when there is no teacher)."""
        return [self.Teacher] if isinstance(self.Teacher, str) else list(self.Teacher or [])

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-ready values (pairs as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.model_dump().items()}

    def with_updates(self, **updates: Any) -> Configuration:
        """A validated copy with some keys changed."""
        return build_config({**self.to_dict(), **updates})


def _describe(error: dict[str, Any], values: dict[str, Any]) -> str:
    key = str(error["loc"][0]) if error["loc"] else "config"  # the key, not the union member or list index
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, Configuration.model_fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown configuration key {key!r}{hint}"
    if key in values:
        return f"configuration key {key}={values[key]!r}: {message}"
    return f"configuration: {message}"


def build_config(values: dict[str, Any]) -> Configuration:
    """Validate a dict of keys into a Configuration, or raise ConfigError naming the first bad key."""
    try:
        return Configuration(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], values)) from None


def parse_override(text: str) -> tuple[str, Any]:
    """Split `Key=Value` and read the value as YAML (`1e-4`, `[48,48]`, `true`, `rgb`)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form Key=Value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"override {text!r}: value {raw!r} is not valid YAML") from None
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value.lower() for c in ".e") else value
        except ValueError:
            pass
    return key.strip(), value


def read_yaml_file(path: str | Path, what: str, error: type[Exception]) -> Any:
    """The parsed YAML in `path`; a missing file or bad YAML raises `error` with one line naming `what`."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text (byte {exc.start} cannot be decoded)") from None


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Configuration:
    """Read a YAML config (or the defaults when `path` is None) and apply `Key=Value` overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        loaded = read_yaml_file(path, "config file", ConfigError)
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys to values")
        values.update(loaded or {})
    for text in overrides:
        key, value = parse_override(text)
        values[key] = value
    return build_config(values)


def require_model_file(key: str, path: str) -> None:
    """Raise ConfigError naming `key` when the model file `path` it refers to does not exist."""
    if not Path(path).is_file():
        raise ConfigError(f"configuration key {key}={path!r}: model file not found")


def check_model_files(config: Configuration) -> None:
    """Stop early, naming the key, when `InitialWeights` or a `Teacher` names a model file that is not there.

    Kept out of validation itself: a configuration stored inside a model stays valid after its teacher is gone.
    """
    if config.InitialWeights is not None:
        require_model_file("InitialWeights", config.InitialWeights)
    for path in config.teacher_paths:
        require_model_file("Teacher", path)


def save_config(config: Configuration, path: str | Path) -> Path:
    """Write the resolved configuration as YAML (atomically)."""
    return write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
