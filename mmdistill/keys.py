"""Declared configuration keys, checked in one place.

Every configuration field is declared once with :func:`key`: its default, what it is (``help``), its
``unit``, the accepted ``range`` of a number (interval notation: ``"[1, inf)"``, ``"(0, 1)"``) and whether
changing it blocks ``--resume`` (``resume=True``: the key changes the distillation; evaluation, output and
progress keys say ``resume=False``). Choices are typed with ``Literal[...]``. A class that redeclares only a
default (``iterations: int = 5000``) keeps the declaration of the class that declared the key.

:func:`validate` checks a built config against the declarations: every value of the declared type, every
number finite and inside its range, every choice one of the ``Literal`` values, then the config's own
cross-key checks (:meth:`Keys.check`). The error, a :class:`~mmdistill.errors.ConfigError`, names the key,
the value and what is accepted. Configs built from :class:`Keys` are validated whenever they are built.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import types
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Literal

from mmdistill.errors import ConfigError

_META = "mmdistill.key"
_NO_FIELD = field()


@dataclass(frozen=True)
class Interval:
    """A range of numbers, ``[low, high]`` with open or closed ends (``None``: unbounded)."""

    low: float | None
    high: float | None
    low_open: bool = False
    high_open: bool = False

    @classmethod
    def parse(cls, text: str) -> Interval:
        """``"[0, 1)"``, ``"(0, inf)"``, ``"[-1, inf)"`` -> Interval."""
        text = text.strip()
        if len(text) < 5 or text[0] not in "[(" or text[-1] not in "])" or "," not in text:
            raise ValueError(f"not an interval: {text!r}")
        lo, hi = (s.strip() for s in text[1:-1].split(","))
        low = None if lo in ("-inf", "") else float(lo)
        high = None if hi in ("inf", "") else float(hi)
        return cls(low, high, text[0] == "(", text[-1] == ")")

    def __contains__(self, x: float) -> bool:
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            return False
        return not (self.high is not None and (x > self.high or (self.high_open and x == self.high)))

    def __str__(self) -> str:
        def num(v: float) -> str:
            return f"{v:g}"

        if self.high is None:
            return f"{'>' if self.low_open else '>='} {num(self.low)}" if self.low is not None else "any"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {num(self.high)}"
        return f"{'(' if self.low_open else '['}{num(self.low)}, {num(self.high)}{')' if self.high_open else ']'}"


def key(default: Any = MISSING, *, help: str, unit: str = "", range: str | None = None, resume: bool = True,
        factory: Callable[[], Any] | None = None, path: bool = False, resume_note: str = "") -> Any:
    """A declared configuration field (a :func:`dataclasses.field` carrying its declaration).

    Args:
        default: the default value (for a mutable default use ``factory``).
        help: what the key is, one line (the ``--help`` text and the manifest's documentation).
        unit: the unit of a number (``"epochs"``, ``"SGD step size"``, ``"samples per class"``).
        range: accepted numbers in interval notation; numbers are always required to be finite.
        resume: True when changing the key changes the distillation, so a checkpoint written with another
            value cannot be resumed; False for evaluation, output and progress keys.
        path: a file or folder; a checkpoint records it absolute (:func:`resume_values`), so a resume may spell it otherwise.
        resume_note: what ``--help`` says of a ``resume=False`` key instead of "may differ on --resume" (when it may not).
    """
    meta = {_META: {"help": help, "unit": unit, "range": Interval.parse(range) if range else None, "resume": resume, "path": path,
                    "resume_note": resume_note}}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def derived(default: Any, *, help: str, resume: bool = True) -> Any:
    """A field computed from other keys in :meth:`Keys.derive` (not settable: it is no input key, but it is
    recorded in the manifest and, with ``resume``, blocks resume like the keys it comes from)."""
    return field(default=default, init=False, metadata={_META: {"help": help, "unit": "", "range": None, "resume": resume}})


@dataclass(frozen=True)
class KeyInfo:
    """One key of a config class: its declaration (from the class that declared it) and its default there."""

    name: str
    type: Any
    help: str
    unit: str
    range: Interval | None
    resume: bool
    settable: bool
    default: Any
    owner: type
    path: bool = False
    resume_note: str = ""

    def choices(self) -> tuple[Any, ...] | None:
        """The ``Literal`` values of a choice key (also of ``X | None`` and ``list[Literal]``), else None."""
        inner = element_type(optional_inner(self.type))
        return typing.get_args(inner) if typing.get_origin(inner) is Literal else None

    def describe_accepted(self) -> str:
        """What the key accepts (``one of a, b``, ``an integer >= 1 (epochs)``, ``a number in (0, 1)``), for
        error messages and ``--help``; empty for free text."""
        choices = self.choices()
        if choices is not None:
            return "one of " + ", ".join(str(c) for c in choices)
        inner = optional_inner(self.type)
        if inner in (int, float):
            kind = "an integer" if inner is int else "a number"
            bounds = "" if self.range is None else (f" in {self.range}" if str(self.range)[0] in "[(" else f" {self.range}")
            return f"{kind}{bounds}{f' ({self.unit})' if self.unit else ''}{' or none' if is_optional(self.type) else ''}"
        return ""


def optional_inner(tp: Any) -> Any:
    """``X`` of ``X | None`` (else ``tp``)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def is_optional(tp: Any) -> bool:
    """Whether the type ``tp`` admits None (``X | None``, ``Optional[X]`` or a union with None)."""
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def element_type(tp: Any) -> Any:
    """``X`` of ``list[X]`` (else ``tp``)."""
    return (typing.get_args(tp) or (str,))[0] if typing.get_origin(tp) in (list, tuple) else tp


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


@functools.lru_cache(maxsize=None)
def key_infos(cls: type) -> tuple[KeyInfo, ...]:
    """Every field of ``cls`` with its declaration, in field order. A field redeclared without ``key`` (a new
    default) takes the declaration of the nearest class in the MRO that declared it with one."""
    out = []
    for f in dataclasses.fields(cls):
        owner = next((c for c in cls.__mro__ if f.name in vars(c).get("__annotations__", {})
                      and _META in getattr(c, "__dataclass_fields__", {}).get(f.name, _NO_FIELD).metadata), None)
        if owner is None:
            raise TypeError(f"{cls.__name__}.{f.name} has no declaration (declare it with mmdistill.keys.key)")
        meta = owner.__dataclass_fields__[f.name].metadata[_META]
        tp = typing.get_type_hints(owner)[f.name]
        out.append(KeyInfo(f.name, tp, meta["help"], meta["unit"], meta["range"], meta["resume"], f.init, _default(f), owner,
                           meta.get("path", False), meta.get("resume_note", "")))
    return tuple(out)


def input_keys(cls: type) -> dict[str, KeyInfo]:
    """The keys a user may set (every declared field except the derived ones), by name."""
    return {info.name: info for info in key_infos(cls) if info.settable}


def expected_error(info: KeyInfo, value: Any) -> ConfigError:
    """The error for a value that cannot be read as the key's type."""
    tp = optional_inner(info.type)
    return _fail(info, value, "true or false" if tp is bool else info.describe_accepted() or f"a {getattr(tp, '__name__', tp)}")


def close_matches(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    """The ``names`` closest to ``word`` (:func:`difflib.get_close_matches`), compared case-insensitively, so
    ``IPC`` finds ``ipc``; each as spelled in ``names``, those ``word`` abbreviates first (``iter``: ``iterations``, too far
    for difflib; no flag is read abbreviated). The one place mmdistill's "Did you mean" suggestions are made."""
    by_lower: dict[str, str] = {}
    for name in names:
        by_lower.setdefault(name.lower(), name)
    starts = [m for m in by_lower if m.startswith(low := str(word).lower()) and len(low.strip("-_")) >= 2 and m != low]
    return [by_lower[m] for m in dict.fromkeys(starts + difflib.get_close_matches(str(word).lower(), list(by_lower), n=n))][:n]


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``" Did you mean a, b?"`` with the names closest to ``word`` (:func:`close_matches`), or ``""`` when none is close."""
    return f" Did you mean {', '.join(close)}?" if (close := close_matches(word, names)) else ""


def unknown_key_error(key: str, names: Iterable[str], source: str) -> ConfigError:
    """The error for a config key that is none of ``names`` (given in ``source``): the closest names and the valid keys."""
    names = list(names)
    return ConfigError(f"unknown config key {key!r} in {source}.{did_you_mean(key, names)} Valid keys: {', '.join(names)}",
                       key=key)


class UnknownKeywordError(ConfigError, TypeError):
    """A config class constructed with a keyword it has no settable key for (``Config(ipcc=2)``). A ConfigError with
    the close-match suggestion of ``recipe.run(ipcc=2)``, and the TypeError a dataclass raises for an unexpected
    keyword argument, so code that catches either still does."""


def clipped(text: str, limit: int) -> str:
    """``text``, or its first ``limit - 3`` characters and ``...`` when it is longer than ``limit``."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _repr_parts(value: Any, path: tuple[int, ...] = ()) -> Iterator[str]:
    """The pieces of ``repr(value)`` in order, made lazily: a list, tuple or dict (however large or deeply shared, as a
    YAML "billion laughs" is) is walked one item at a time, so a reader of the first characters never builds the rest."""
    kind = type(value)
    if kind not in (list, tuple, dict) or not value:
        try:
            yield repr(value)
        except ValueError:  # an int of more digits than Python converts to text
            yield f"<{kind.__name__} of {value.bit_length()} bits>" if isinstance(value, int) else f"<{kind.__name__}>"
        return
    if id(value) in path or len(path) > 100:  # a value that holds itself (YAML anchors can make one): repr's own form;
        yield "[...]" if kind is list else "{...}" if kind is dict else "(...)"  # or deep past any limit: its start is shown
        return
    inner = (*path, id(value))
    yield "[" if kind is list else "{" if kind is dict else "("
    for i, item in enumerate(value.items() if kind is dict else value):
        if i:
            yield ", "
        if kind is dict:
            yield from _repr_parts(item[0], inner)
            yield ": "
            item = item[1]
        yield from _repr_parts(item, inner)
    yield "]" if kind is list else "}" if kind is dict else ",)" if len(value) == 1 else ")"


class Bound(typing.NamedTuple):
    """The numbers torch holds: ``low..high``, and the words a message gives for ``high`` (``2^63 - 1 (int64)``)."""

    low: float
    high: float
    words: str


#: the largest integer torch's int64 holds
INT64_MAX = 2**63 - 1
#: a config key's integer: torch holds it in int64 (``-(2^63 - 1)..2^63 - 1``)
INT64_BOUND = Bound(-INT64_MAX, INT64_MAX, "2^63 - 1 (int64)")
#: a config key's rate or scale: torch holds it in float32
FLOAT32_BOUND = Bound(-3.4028234663852886e38, 3.4028234663852886e38, "3.4e38 (float32)")
#: the seeds torch's generators take: any int64, and the unsigned 64-bit values (a negative seed ``s`` is ``s + 2**64``)
SEED_BOUND = Bound(-(INT64_MAX + 1), 2 * INT64_MAX + 1, "2^64 - 1 (the largest seed a 64-bit random generator takes)")


def check_bound(name: str, value: float, accepted: str, bound: Bound = INT64_BOUND, shown_as: str = "config key ") -> None:
    """A ConfigError (key ``name``) naming ``name``, the value, ``accepted`` and ``bound``'s largest value when
    ``value`` lies outside ``bound``: the one check of the config keys' numbers and of ``seed_everything``'s seed."""
    if not bound.low <= value <= bound.high:
        raise ConfigError(f"{shown_as}{name}={short_repr(value)}: expected {accepted}, at most {bound.words} in size", key=name)


def _is_array(value: Any) -> bool:
    """Whether ``value`` is an array or tensor of one dimension or more (a numpy scalar such as ``np.int64(3)``, which a
    sweep over ``np.arange`` hands a config, is a value shown as itself)."""
    return hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``; for an array or tensor its type, shape and dtype (``<Tensor of shape (10, 1, 8, 8), torch.float32>``);
    for another long one its type and first characters (found without building the whole repr: bounded for any value)."""
    if _is_array(value):
        return f"<{type(value).__name__} of shape {tuple(value.shape)}, {value.dtype}>"
    text = ""
    for part in _repr_parts(value):
        text += part[: limit + 1]  # a long string or number is cut too
        if len(text) > limit:
            break
    return text if len(text) <= limit else f"<{type(value).__name__} {clipped(text, limit - 17)}>"


#: why a tensor or an array is no config value: where data in memory goes (README: each modality's section)
IN_MEMORY = ("; data in memory is not a config value: give it a name with the adapter's register_tensors (image, audio, "
             "video, audio_visual; register_graph for graphs) and pass that name as dataset (README: each modality's section)")


def _fail(info: KeyInfo, value: Any, expected: str) -> ConfigError:
    note = IN_MEMORY if _is_array(value) else ""
    return ConfigError(f"config key {info.name}={short_repr(value)}: expected {expected}{note}", key=info.name)


def check_value(info: KeyInfo, value: Any) -> None:
    """Raise a ConfigError naming the key, the value and what is accepted when ``value`` breaks the declaration."""
    tp = info.type
    if value is None:
        if is_optional(tp):
            return
        raise _fail(info, value, f"a value ({info.describe_accepted() or getattr(tp, '__name__', tp)}); None is not allowed")
    tp = optional_inner(tp)
    if typing.get_origin(tp) in (list, tuple):
        if not isinstance(value, list):
            raise _fail(info, value, "a list")
        elem = dataclasses.replace(info, type=element_type(tp))
        for item in value:
            try:
                check_value(elem, item)
            except ConfigError:
                raise _fail(info, value, f"a list, each {elem.describe_accepted() or 'a value'}") from None
        return
    if typing.get_origin(tp) is Literal:
        if value not in typing.get_args(tp) or isinstance(value, bool) != any(isinstance(c, bool) for c in typing.get_args(tp)):
            raise _fail(info, value, info.describe_accepted())
        return
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(info, value, "true or false")
        return
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (tp is int and not isinstance(value, int)):
            raise _fail(info, value, info.describe_accepted())
        if not math.isfinite(value):
            raise _fail(info, value, info.describe_accepted().replace("an integer", "a finite number", 1).replace("a number", "a finite number", 1))
        if info.range is not None and value not in info.range:
            raise _fail(info, value, info.describe_accepted())
        check_bound(info.name, value, info.describe_accepted(), INT64_BOUND if tp is int else FLOAT32_BOUND)
        return
    if tp is str and not isinstance(value, str):
        raise _fail(info, value, "a string")
    if tp is dict and not isinstance(value, dict):
        raise _fail(info, value, "a mapping")


def validate(cfg: Any) -> None:
    """Check every declared field of ``cfg``, then its cross-key checks (``cfg.check()``)."""
    for info in key_infos(type(cfg)):
        check_value(info, getattr(cfg, info.name))
    check = getattr(cfg, "check", None)
    if callable(check):
        check()


@functools.lru_cache(maxsize=None)
def _init_names(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    """The keyword arguments the dataclass ``cls`` takes (in field order), and its fields it computes (``init=False``)."""
    fields = dataclasses.fields(cls)
    return tuple(f.name for f in fields if f.init), frozenset(f.name for f in fields if not f.init)


#: the attribute of a config built directly that names the keys its caller gave (keyword or positional): a recipe
#: rebuilding it keeps exactly those, a value equal to the default included (:func:`mmdistill.resolve.rebuild_layers`)
GIVEN = "_mmdistill_given"


@dataclass
class Keys:
    """Base of every configuration: built, derived (:meth:`derive`), then validated (:func:`validate`).

    Subclasses declare fields with :func:`key` and put checks that involve several keys in :meth:`check`
    (calling ``super().check()``); they do not override ``__post_init__``. A keyword argument the class has no
    key for is a ConfigError with the closest key names (:class:`UnknownKeywordError`), as in ``recipe.run``.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """Refuse a keyword argument the class has no settable key for (:class:`UnknownKeywordError`, naming the
        closest keys) before the dataclass's own ``__init__`` runs; that ``__init__`` is left as the dataclass made it
        (positional arguments, defaults, ``dataclasses.replace`` and pickling are unchanged)."""
        if kwargs:
            settable, computed = _init_names(cls)
            where = f"{cls.__module__}.{cls.__qualname__}"
            for name in kwargs:
                if name in computed:
                    raise UnknownKeywordError(f"config key {name!r} of {where} is computed from other keys (derived), not "
                                              "set: leave it out", key=name)
                if name not in settable:
                    raise UnknownKeywordError(str(unknown_key_error(name, settable, f"the arguments of {where}")), key=name)
        obj = super().__new__(cls)
        object.__setattr__(obj, GIVEN, frozenset(kwargs) | frozenset(_init_names(cls)[0][:len(args)]))  # what the caller set
        return obj

    def __post_init__(self) -> None:
        self.derive()
        validate(self)

    def derive(self) -> None:
        """Compute the :func:`derived` fields from the keys (before validation)."""

    def check(self) -> None:
        """Cross-key checks; raise ConfigError naming the keys."""


def resume_values(cfg: Any) -> dict[str, Any]:
    """The values of the keys that change the distillation (``resume=True``), as JSON-ready values; a path key's
    (``path=True``) absolute, ``~`` expanded, so the same folder matches however it is spelled or wherever run from."""
    def plain(info: KeyInfo, value: Any) -> Any:
        return os.path.realpath(os.path.expanduser(value)) if info.path and isinstance(value, str) and value else plain_value(value)
    return {info.name: plain(info, getattr(cfg, info.name)) for info in key_infos(type(cfg)) if info.resume}


def plain_value(value: Any) -> Any:
    """``value`` as JSON and YAML hold it: tuples as lists, keys as strings, any other object but a scalar as its str."""
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


__all__ = ["FLOAT32_BOUND", "GIVEN", "INT64_BOUND", "INT64_MAX", "SEED_BOUND", "Bound", "Interval", "KeyInfo", "Keys",
           "UnknownKeywordError", "check_bound", "check_value", "close_matches", "derived", "did_you_mean",
           "expected_error", "input_keys", "is_optional", "clipped", "key", "key_infos", "short_repr", "optional_inner",
           "plain_value", "resume_values", "unknown_key_error", "validate"]
