"""Reading pickled dataset files without running code from them (shared by the adapters).

A pickle names functions and classes that the reader calls while loading it; a crafted file can name
``os.system``. :class:`RestrictedUnpickler` admits only what the Planetoid files, PyG's pickled raw
arrays and torchvision's CIFAR batches hold — numpy arrays, dtypes and scalars, scipy CSR/CSC matrices, ``collections.defaultdict`` and
plain builtin containers — and raises :class:`~mmdistill.errors.DataError` naming the file and the refused
global for anything else.

:func:`guarded_loading` applies the same rule to third-party dataset code (``torch_geometric.datasets``
classes, OGB, torchvision's CIFAR-10/100) for the duration of a call: ``pickle.load``/``loads``/``Unpickler`` (also what
``numpy.load(allow_pickle=True)`` uses) become the restricted reader, the pure-Python ``pickle._Unpickler``'s
``find_class`` (which pandas' and joblib's unpicklers subclass and call) admits the same globals, and every
``torch.load`` is forced to ``weights_only=True`` (PyG falls back to ``weights_only=False`` otherwise).

Inside the guard a refused global raises :class:`PickleRefused`, which is not an :class:`Exception`: a library that
catches errors of its first reader and retries with another (``pandas.read_pickle`` catches ``ValueError`` and
unpickles again with its own reader) cannot swallow it; the guard turns it into a :class:`DataError` on the way out.

Limits: the swap is of module attributes, so code holding its own reference taken before the guard (``from pickle
import Unpickler`` at import time, a C-level subclass of ``_pickle.Unpickler``, ``dill``) is not covered; the dataset
classes mmdistill reaches (PyG, OGB, torchvision's CIFAR) call ``pickle``/``numpy``/``torch``/``pandas`` through
their modules. The swap is process-wide while the guard lasts (serialised by a lock): another thread that unpickles
meanwhile gets the restricted reader too.
"""

from __future__ import annotations

import _compat_pickle
import collections
import contextlib
import importlib
import io
import logging
import os
import pickle
import threading
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from mmdistill.errors import DataError

logger = logging.getLogger(__name__)

ALLOWED_WHAT = "only scipy sparse matrices, numpy arrays and dicts of lists are allowed"

_PICKLE_LOAD, _PICKLE_LOADS, _PICKLE_UNPICKLER = pickle.load, pickle.loads, pickle.Unpickler
_GUARD_LOCK = threading.RLock()


def _numpy_core(submodule: str, name: str) -> Callable[[], Any]:
    """Resolver of ``numpy._core.<submodule>.<name>`` (numpy 2), else ``numpy.core.<submodule>.<name>``."""

    def resolve() -> Any:
        for mod in (f"numpy._core.{submodule}", f"numpy.core.{submodule}"):
            try:
                return getattr(importlib.import_module(mod), name)
            except (ImportError, AttributeError):
                continue
        raise AttributeError(f"numpy has no {submodule}.{name}")

    return resolve


def _scipy_sparse(name: str) -> Callable[[], Any]:
    def resolve() -> Any:
        import scipy.sparse

        return getattr(scipy.sparse, name)

    return resolve


def _allowed_globals() -> dict[tuple[str, str], Callable[[], Any]]:
    """``(module, name)`` as a pickle spells it (Python 3 names) -> resolver of the object it may load."""
    import numpy as np

    allowed: dict[tuple[str, str], Callable[[], Any]] = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("collections", "defaultdict"): lambda: collections.defaultdict,
        ("collections", "OrderedDict"): lambda: collections.OrderedDict,
        ("_codecs", "encode"): lambda: __import__("_codecs").encode,  # bytes in a protocol-2 pickle of Python 3
    }
    for core in ("numpy.core", "numpy._core"):
        for sub, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer")):
            allowed[(f"{core}.{sub}", name)] = _numpy_core(sub, name)
        allowed[(f"{core}.multiarray", "dtype")] = lambda: np.dtype
    for fmt in ("csr", "csc"):
        for name in (f"{fmt}_matrix", f"{fmt}_array"):
            for mod in ("scipy.sparse", f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}"):
                allowed[(mod, name)] = _scipy_sparse(name)
    for name in ("list", "dict", "tuple", "set", "frozenset", "int", "float", "complex", "bool", "str", "bytes",
                 "bytearray"):
        allowed[("builtins", name)] = (lambda n=name: __import__("builtins").__dict__[n])
    return allowed


_ALLOWED: dict[tuple[str, str], Callable[[], Any]] = {}


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """The Python 3 spelling of a global a Python 2 pickle names (``__builtin__.long`` -> ``builtins.int``)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def describe_source(f: Any) -> str:
    """The file behind ``f`` (a path, or a file object's ``name``/``path``), resolved through symlinks."""
    if isinstance(f, (str, os.PathLike)):
        name: Any = f
    else:
        name = getattr(f, "name", None) or getattr(f, "path", None)
    if isinstance(name, (str, os.PathLike)):
        return os.path.realpath(name)
    return "a pickle in memory"


class PickleRefused(BaseException):
    """A pickle names a global outside the allowed list (or a persistent reference). A ``BaseException``, so that a
    library's ``except Exception`` / ``except ValueError`` fallback cannot catch it and read the file again with an
    unrestricted reader; :func:`read_pickle` and :func:`guarded_loading` turn it into a :class:`DataError`."""


class UnreadableFile(DataError):
    """A pickle or ``.pt`` file that is truncated or corrupt (no pickle stream, an unknown opcode, a cut zip): damage,
    not a refusal — a cache of ours holding one may be built again, where a refused global is news to report."""


def allowed_global(module: str, name: str, source: str) -> Any:
    """The object a pickle's global ``module.name`` may load, or :class:`PickleRefused` naming ``source``."""
    key = _python3_name(module, name)
    if not _ALLOWED:
        _ALLOWED.update(_allowed_globals())
    resolve = _ALLOWED.get(key)
    if resolve is None:
        logger.warning("refused to unpickle %s.%s from %s", key[0], key[1], source)
        raise PickleRefused(f"{source}: refers to {key[0]}.{key[1]}; {ALLOWED_WHAT}")
    return resolve()


class RestrictedUnpickler(_PICKLE_UNPICKLER):  # type: ignore[misc, valid-type]
    """A :class:`pickle.Unpickler` whose ``find_class`` admits only sparse matrices, arrays and containers.

    ``source`` names the file in the :class:`PickleRefused` raised for any other global.
    """

    def __init__(self, file: BinaryIO, *, source: str | None = None, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.source = source or describe_source(file)

    def find_class(self, module: str, name: str) -> Any:
        return allowed_global(module, name, self.source)

    def persistent_load(self, pid: Any) -> Any:
        raise PickleRefused(f"{self.source}: holds a persistent reference; {ALLOWED_WHAT}")


def _restricted_pure_find_class(self: Any, module: str, name: str) -> Any:
    """``pickle._Unpickler.find_class`` inside the guard: the allowed globals only (pandas' and joblib's unpicklers
    subclass the pure-Python unpickler and call this)."""
    return allowed_global(module, name, f"a pickle read by {type(self).__module__}.{type(self).__qualname__}")


def _restricted_pure_persistent_load(self: Any, pid: Any) -> Any:
    raise PickleRefused(f"a pickle read by {type(self).__module__}.{type(self).__qualname__}: holds a persistent reference; "
                        f"{ALLOWED_WHAT}")


def read_pickle(path: Path, *, encoding: str = "latin1") -> Any:
    """The object pickled in ``path``, read by :class:`RestrictedUnpickler` (``encoding="latin1"`` reads the
    numpy arrays of Python 2 pickles). A refused global, a truncated or corrupt file raise DataError."""
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, source=str(path), encoding=encoding).load()
    except PickleRefused as exc:
        raise DataError(str(exc)) from None
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except Exception as exc:  # EOFError, UnpicklingError, ValueError ... from a truncated or corrupt file
        raise UnreadableFile(f"{path}: not a readable pickle (truncated or corrupt: {type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------- guard
def _restricted_load(file: BinaryIO, source: str, **kwargs: Any) -> Any:
    """What a third-party loader's ``pickle.load`` gets: the restricted unpickler, and a truncated or corrupt
    pickle as a DataError naming ``source`` (as :func:`read_pickle` does)."""
    try:
        return RestrictedUnpickler(file, source=source, **kwargs).load()
    except (PickleRefused, DataError):
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, IndexError, KeyError) as exc:
        raise UnreadableFile(f"{source}: not a readable pickle (truncated or corrupt: {type(exc).__name__}: {exc})") from None


def _guarded_pickle_load(file: BinaryIO, **kwargs: Any) -> Any:
    kwargs.pop("source", None)
    return _restricted_load(file, describe_source(file), **kwargs)


def _guarded_pickle_loads(data: bytes, /, **kwargs: Any) -> Any:
    kwargs.pop("source", None)
    return _restricted_load(io.BytesIO(data), "a pickle in memory", **kwargs)


def _strict_torch_load(real_load: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.load`` with ``weights_only=True`` whatever the caller asks; a refusal is a DataError naming
    the file."""

    def load(f: Any, map_location: Any = None, pickle_module: Any = None, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        try:
            return real_load(f, map_location, **kwargs)
        except pickle.UnpicklingError as exc:
            # torch's message starts by suggesting weights_only=False, which mmdistill never does: quote only
            # the global it refused (or the kind of failure)
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            if not any("GLOBAL" in ln or "global" in ln for ln in lines):  # no global named: bytes that are no pickle
                said = [ln for ln in lines if not ln.startswith(("Weights only load failed", "Please file", "Check the"))]
                raise UnreadableFile(f"{describe_source(f)}: not a readable torch file (truncated or corrupt: "
                                     f"{said[-1] if said else type(exc).__name__})") from None
            first = next((ln for ln in lines if ln.startswith(("WeightsUnpickler error", "Unsupported global"))),
                         type(exc).__name__).split(" Please use", 1)[0]
            raise DataError(
                f"{describe_source(f)}: not loaded — .pt files are read with torch.load(weights_only=True) only, "
                f"which admits tensors and plain containers ({first})"
            ) from None

    return load


@contextlib.contextmanager
def guarded_loading() -> Iterator[None]:
    """Run third-party dataset code with restricted unpickling and weights-only ``torch.load``.

    Process-wide while it lasts (the ``pickle`` and ``torch`` module attributes, the pure-Python unpickler's
    ``find_class`` and ``persistent_load``, and the ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` variable are swapped, then
    restored); calls are serialised by a lock. A refused global ends the guarded call as a :class:`DataError`, even
    when the code inside caught errors of its own reader and tried another.
    """
    import torch

    pure = pickle._Unpickler
    with _GUARD_LOCK:
        saved = (pickle.load, pickle.loads, pickle.Unpickler, torch.load, os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD"))
        saved_pure = (pure.find_class, pure.__dict__.get("persistent_load"))
        pickle.load, pickle.loads, pickle.Unpickler = _guarded_pickle_load, _guarded_pickle_loads, RestrictedUnpickler
        pure.find_class, pure.persistent_load = _restricted_pure_find_class, _restricted_pure_persistent_load
        torch.load = _strict_torch_load(saved[3])
        os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
        try:
            yield
        except PickleRefused as exc:
            raise DataError(str(exc)) from None
        finally:
            pickle.load, pickle.loads, pickle.Unpickler, torch.load = saved[:4]
            pure.find_class = saved_pure[0]
            if saved_pure[1] is None:
                del pure.persistent_load
            else:
                pure.persistent_load = saved_pure[1]
            if saved[4] is None:
                os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
            else:
                os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = saved[4]


__all__ = ["ALLOWED_WHAT", "PickleRefused", "RestrictedUnpickler", "UnreadableFile", "allowed_global", "describe_source", "guarded_loading", "read_pickle"]
