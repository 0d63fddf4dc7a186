"""Run configuration: frozen dataclasses, TOML recipes and typed `--set` overrides.

A run is described by `RunConfig(task, model, data, train)`. `TrainConfig` is shared by every
task; each task brings its own model and data config dataclasses (see `rnnkit.tasks`). Recipes
are TOML files (`src/rnnkit/configs/<name>.toml`, shipped as package data, or any path) with a
top-level `task = "..."` and `[model]`, `[data]`, `[train]` tables. On the command line
`--set section.key=value` overrides one field; the value is parsed by the dataclass field's type
and unknown sections or keys are rejected with the valid names listed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

from rnnkit.data.tables import decode_bytes
from rnnkit.errors import ConfigError

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

CONFIG_FORMAT_VERSION = 1
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "cosine", "plateau")
DEVICES = ("auto", "cpu", "cuda")

T = TypeVar("T")


SEED_RANGE = "[0, 4294967295]"  # numpy and torch generators take unsigned 32-bit seeds everywhere


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"train.{name}={value!r} is not valid; choose one of: {', '.join(valid)}")


# --------------------------------------------------------------------------- value ranges
#
# Every numeric field of a config dataclass has an allowed range in the class's ``RANGES`` table
# (``{"field": "[lo, hi)"}``, interval notation, ``inf`` for no bound; a tuple field is checked
# element by element; ``"a+b"`` bounds the sum of two fields; ``None`` is always legal where the
# field's type allows it, since it means "auto" / "off"). ``check_ranges`` reads the tables of the
# class and its bases; ``build_dataclass`` and ``RunConfig`` call it, so a recipe, a ``--set``
# value, an estimator parameter and a config.json are all checked the same way, once, at load.

def _interval(spec: str) -> tuple[float, float, bool, bool]:
    """``"[0, 1)"`` -> (0.0, 1.0, lo_closed=True, hi_closed=False)."""
    lo, hi = (float(part.strip()) for part in spec[1:-1].split(","))
    return lo, hi, spec[0] == "[", spec[-1] == "]"


def _outside(value: float, spec: str) -> bool:
    lo, hi, lo_closed, hi_closed = _interval(spec)
    if isinstance(value, float) and math.isnan(value):
        return True
    too_low = value < lo or (value == lo and not lo_closed)
    return too_low or value > hi or (value == hi and not hi_closed)


def ranges_of(cls: type) -> dict[str, str]:
    """The ``RANGES`` table of a config class merged over its bases (a subclass may tighten one)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        out.update(vars(klass).get("RANGES", {}))
    return out


def check_ranges(obj: Any, section: str) -> None:
    """Raise a one-line ConfigError naming ``section.key``, the value and the allowed range for the
    first value of config dataclass ``obj`` outside its ``RANGES`` entry (NaN is never in range)."""
    for key, spec in ranges_of(type(obj)).items():
        values = [getattr(obj, name) for name in key.split("+")]
        if any(v is None for v in values):
            continue
        value = sum(values) if len(values) > 1 else values[0]
        items = value if isinstance(value, (tuple, list)) else (value,)
        bad = [v for v in items if _outside(v, spec)]
        if bad:
            shown = "=".join((" + ".join(f"{section}.{k}" for k in key.split("+")), repr(value)))
            each = "each value must lie in" if isinstance(value, (tuple, list)) else "allowed:"
            none = " or None" if _allows_none(type(obj), key) else ""
            raise ConfigError(f"{shown} is out of range; {each} {spec}{none}")


def _allows_none(cls: type, key: str) -> bool:
    tp = typing.get_type_hints(cls).get(key)
    return type(None) in typing.get_args(tp)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every task (read by `rnnkit.train.fit`)."""

    batch_size: int = 32
    seq_len: int = 100  # TBPTT window (stream tasks); ignored by tasks with whole sequences
    lr: float = 2e-3
    optimizer: str = "adam"  # adam | adamw | sgd
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"  # none | cosine | plateau
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of lr
    plateau_factor: float = 0.5
    plateau_patience: int = 1  # evaluations without improvement before the lr is cut
    grad_clip: float | None = 1.0  # max global gradient norm; None disables
    max_steps: int | None = 1000  # None: no step limit (then epochs or max_minutes ends the run)
    epochs: int | None = None  # passes over the training data (whichever limit comes first ends the run)
    max_minutes: float | None = None  # wall-clock budget (resumed runs count earlier time)
    schedule_by_time: bool = True  # the cosine follows max_minutes too; False: max_minutes only stops the run
    eval_every: int | None = 200  # steps between validations; None: at the end of every epoch
    early_stopping_patience: int | None = None  # evaluations without improvement; None or 0: never stop early
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    log_every: int = 20
    l1: float = 0.0
    l2: float = 0.0
    num_threads: int | None = None  # torch intra-op threads; None keeps torch's default
    max_memory_gb: float | None = None  # estimated memory one training batch may need; None: 80% of RAM / GPU

    RANGES: ClassVar[dict[str, str]] = {
        "batch_size": "[1, inf)", "seq_len": "[1, inf)",
        "lr": "(0, inf)",  # a huge lr is legal (it diverges, and the run says so); NaN / inf are not
        "weight_decay": "[0, inf)", "momentum": "[0, 1]", "betas": "[0, 1)",
        "warmup_steps": "[0, inf)", "min_lr_ratio": "[0, 1]", "plateau_factor": "(0, 1)",
        "plateau_patience": "[0, inf)",
        "grad_clip": "(0, inf)",  # a negative maximum flips the gradient; None disables clipping
        "max_steps": "[1, inf)", "epochs": "[1, inf)", "max_minutes": "(0, inf)",
        "eval_every": "[1, inf)", "early_stopping_patience": "[0, inf)", "seed": SEED_RANGE,
        "log_every": "[1, inf)", "l1": "[0, inf)", "l2": "[0, inf)", "num_threads": "[1, 4096]",
        "max_memory_gb": "(0, inf)",
    }

    def __post_init__(self) -> None:
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("device", self.device, DEVICES)
        check_ranges(self, "train")
        if self.max_steps is None and self.epochs is None and self.max_minutes is None:
            raise ConfigError("train: nothing ends the run; set train.max_steps, train.epochs or train.max_minutes")


@dataclass(frozen=True)
class RunConfig:
    """A complete run: task name, the task's model and data configs, and the shared train config."""

    task: str
    model: Any
    data: Any
    train: TrainConfig = field(default_factory=TrainConfig)
    # data-aware defaults (rnnkit.defaults): None = a complete configuration (a recipe, or one already
    # resolved); a tuple = the keys the user set, every other key is chosen from the data at training
    user_keys: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for section in ("model", "data", "train"):
            if dataclasses.is_dataclass(getattr(self, section)):
                check_ranges(getattr(self, section), section)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (written as `config.json`), with a format version."""
        out = {
            "format_version": CONFIG_FORMAT_VERSION,
            "task": self.task,
            "model": _to_plain(dataclasses.asdict(self.model)),
            "data": _to_plain(dataclasses.asdict(self.data)),
            "train": _to_plain(dataclasses.asdict(self.train)),
        }
        if self.user_keys is not None:
            out["user_keys"] = list(self.user_keys)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], model_cls: type, data_cls: type) -> RunConfig:
        """Inverse of `to_dict`, given the task's config classes (see `rnnkit.tasks.run_config_from_dict`)."""
        version = d.get("format_version", CONFIG_FORMAT_VERSION)
        if version > CONFIG_FORMAT_VERSION:
            raise ConfigError(f"config format_version {version} is newer than this rnnkit "
                              f"({CONFIG_FORMAT_VERSION}); upgrade rnnkit")
        keys = d.get("user_keys")
        return cls(
            task=d["task"],
            model=build_dataclass(model_cls, d.get("model", {}), "model"),
            data=build_dataclass(data_cls, d.get("data", {}), "data"),
            train=build_dataclass(TrainConfig, d.get("train", {}), "train"),
            user_keys=None if keys is None else tuple(keys),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- typed values

def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert `value` (a CLI string or a TOML/JSON value) to type `tp`, or raise ConfigError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: cannot parse {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except json.JSONDecodeError as e:
                    raise ConfigError(f"{where}: cannot parse {value!r} as a list ({e})") from None
            else:
                items = [s.strip() for s in text.strip("()").split(",") if s.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(items)} ({value!r})")
            return tuple(coerce(v, a, where) for v, a in zip(items, args))
        inner = args[0] if args else str
        out = [coerce(v, inner, where) for v in items]
        return tuple(out) if origin is tuple else out
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if tp is Any:
        return value
    raise ConfigError(f"{where}: unsupported config field type {tp!r}")


def build_dataclass(cls: type[T], values: dict[str, Any], section: str) -> T:
    """Instantiate config dataclass `cls` from a mapping, typing every value; unknown keys are errors."""
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table of key = value, got {values!r}")
    types_ = _field_types(cls)
    unknown = sorted(set(values) - set(types_))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
                          f"valid keys in [{section}]: {', '.join(types_)}")
    kwargs = {k: coerce(v, types_[k], f"{section}.{k}") for k, v in values.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"[{section}]: {e}") from None
    check_ranges(obj, section)
    return obj


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, dict[str, str]]:
    """`["model.cell=gru", "train.lr=1e-3"]` -> `{"model": {"cell": "gru"}, "train": {"lr": "1e-3"}}`."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not section or not name:
            raise ConfigError(f"--set expects section.key=value (e.g. train.lr=1e-3), got {item!r}")
        out.setdefault(section, {})[name] = value
    return out


def override_keys(items: list[str] | tuple[str, ...]) -> list[str]:
    """The ``section.key`` names of ``section.key=value`` overrides."""
    return [f"{section}.{k}" for section, values in parse_overrides(items).items() for k in values]


def apply_overrides(cfg: RunConfig, items: list[str] | tuple[str, ...]) -> RunConfig:
    """Return a copy of `cfg` with typed `section.key=value` overrides applied."""
    sections = {"model": cfg.model, "data": cfg.data, "train": cfg.train}
    changes = {}
    for section, values in parse_overrides(items).items():
        if section not in sections:
            raise ConfigError(f"unknown config section {section!r}; valid sections: {', '.join(sections)}")
        current = sections[section]
        merged = {**dataclasses.asdict(current), **values}
        changes[section] = build_dataclass(type(current), merged, section)
    return dataclasses.replace(cfg, **changes)


def config_keys(cfg: RunConfig) -> dict[str, Any]:
    """Every settable dotted key with its current value (for help text and error messages)."""
    out = {}
    for section in ("model", "data", "train"):
        for k, v in dataclasses.asdict(getattr(cfg, section)).items():
            out[f"{section}.{k}"] = v
    return out


# --------------------------------------------------------------------------- recipes

def recipe_names() -> list[str]:
    """Names of the recipes shipped in `rnnkit/configs/`."""
    root = resources.files("rnnkit") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_recipe(name_or_path: str) -> dict[str, Any]:
    """Read a recipe TOML by shipped name (`charlm`) or by path (`my.toml`) into a plain dict."""
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"recipe file not found: {name_or_path}")
        try:  # any encoding read_text detects (a recipe saved as UTF-16 by an editor is still read)
            text = decode_bytes(path.read_bytes(), str(path))
        except OSError as e:
            raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
        label = str(path)
    else:
        res = resources.files("rnnkit") / "configs" / f"{name_or_path}.toml"
        if not res.is_file():
            raise ConfigError(f"unknown recipe {name_or_path!r}; shipped recipes: {', '.join(recipe_names())}")
        text = res.read_text(encoding="utf-8")
        label = f"rnnkit/configs/{name_or_path}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{label}: invalid TOML ({e})") from None
    unknown = sorted(set(data) - {"task", "model", "data", "train", "description"})
    if unknown:
        raise ConfigError(f"{label}: unknown top-level key(s) {', '.join(unknown)}; "
                          "valid: task, description, [model], [data], [train]")
    return data
