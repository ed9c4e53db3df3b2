"""Graphs that a library reads: Planetoid's raw files by our restricted reader (downloaded only with ``download``),
PyG's dataset classes and OGB's ``ogbn-arxiv``, built in a mirror of ``data_root`` under our cache and under
:func:`~modalities.safe_pickle.guarded_loading`; each gives the raw dict :func:`.datasets.build_data` checks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from mmdistill.cache_dir import cache_root
from mmdistill.errors import ConfigError, DataError

from .planetoid import download_raw_files, missing_raw_files, read_planetoid
from .pyg_cache import is_reused, pyg_workdir
from .registered import graph_tensors
from ..safe_pickle import PickleRefused, UnreadableFile, guarded_loading

# these lines logged from the loader's module before it was split: they log under its name still
logger = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
GRAPHSAINT = {"flickr": "Flickr", "reddit": "Reddit"}


def _need_root(name: str, root: str | None) -> str:
    if not root:
        raise ConfigError(f"dataset {name!r} needs data_root (--data-root PATH), the folder that holds it")
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"data_root {root} does not exist; give the folder that holds dataset {name!r}")
    if not path.is_dir():
        raise DataError(f"data_root {root} is a file; give the folder that holds dataset {name!r}")
    return str(path)


def _first_graph(ds: Any, label: str) -> dict[str, Any]:
    """The raw dict of ``ds[0]``: its tensors :func:`build_data` reads, ``edge_weight`` (kept, checked) and
    ``edge_attr`` (left out, named: :func:`_report_edge_features`) among them."""
    raw = graph_tensors(ds[0])  # several fixed splits (e.g. WikiCS): the first
    raw["name"] = label
    raw["source"] = f"torch_geometric.datasets.{type(ds).__name__}"
    return raw


def _planetoid(key: str, root: str, download: bool) -> dict[str, Any]:
    """Cora/CiteSeer/PubMed from ``root/<Name>/raw`` (or, with ``download``, the cache's download folder)
    by the restricted reader of :mod:`.planetoid`; nothing is written into ``root``."""
    pname = PLANETOID[key]
    raw_dir = Path(root) / pname / "raw"
    missing = missing_raw_files(raw_dir, key)
    if missing and not download:
        raise DataError(
            f"{pname}: {raw_dir} lacks {', '.join(missing)}; put Planetoid's raw files there "
            f"(data_root is the folder holding {pname}/raw/), or pass download=true (--download) when online"
        )
    if missing:
        raw_dir = cache_root() / "graph" / "download" / pname / "raw"
        logger.info("%s: %s lacks %s; downloading into %s", pname, root, ", ".join(missing), raw_dir)
        download_raw_files(raw_dir, key)
    return read_planetoid(raw_dir, key)


_PYG_OPTIONS = frozenset({"transform", "pre_transform", "pre_filter", "force_reload", "log"})  # not a dataset name


_OFFLINE_HINT = "; offline runs need the dataset's files there"


def _named_failure(exc: BaseException) -> BaseException | None:
    """The guard's refusal or a DataError that ``exc`` is or was raised from (a library wraps what it calls), else None."""
    named = exc if isinstance(exc, (DataError, PickleRefused)) else exc.__cause__ or exc.__context__
    return named if isinstance(named, (DataError, PickleRefused)) else None


def _refusal(exc: BaseException) -> BaseException | None:
    """:func:`_named_failure`, unless it is a truncated or corrupt file (:class:`~modalities.safe_pickle.UnreadableFile`):
    damage, which a cache entry of ours may be built again for, where a refused global is news to report."""
    named = _named_failure(exc)
    return None if isinstance(named, UnreadableFile) else named


def _load_failure(label: str, root: str, exc: BaseException, hint: str = _OFFLINE_HINT) -> DataError:
    """A DataError naming ``label`` for a dataset class that failed: the guard's refusal or named failure (itself, or
    the cause of a library's error) or the library's error."""
    named = _named_failure(exc)
    if named is not None:
        msg = str(named)
        return DataError(msg if msg.startswith(f"{label}: ") else f"{label}: {msg}")
    return DataError(f"{label}: could not load from {root} ({type(exc).__name__}: {exc}){hint}")


def _guarded_class(cls: type, label: str, root: str | None, download: bool) -> type:
    """A subclass of the dataset class ``cls`` (same name) that prints nothing (PyG's "Processing..." lines;
    the cache's progress is logged instead) and, unless ``download``, cannot download: a missing raw file is
    a DataError naming it under ``root`` instead of a silent fetch from the internet."""
    from torch_geometric.data import Dataset, InMemoryDataset

    attrs: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
                             "log": property(lambda self: False, lambda self, value: None)}
    downloads = any("download" in c.__dict__ for c in cls.__mro__ if c not in (Dataset, InMemoryDataset, object))
    if downloads and not download:
        def download_refused(self: Any) -> None:  # PyG calls it only when a raw file is missing
            base = cache_root() / "graph"  # the mirror of data_root is base/<entry>/
            missing = [Path(p) for p in self.raw_paths if not Path(p).exists()]
            names = [str(Path(*p.relative_to(base).parts[1:])) if p.is_relative_to(base) else p.name for p in missing]
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            raise DataError(f"{label}: {root} lacks {shown} (the raw files torch_geometric.datasets.{cls.__name__} "
                            "reads, relative to data_root); put them there, or pass download=true (--download) when "
                            "online")

        attrs["download"] = download_refused
    return type(cls.__name__, (cls,), attrs)


def _pyg_class(cls_name: str, sub: str | None, root: str | None, download: bool, *, label: str) -> dict[str, Any]:
    """The first graph of ``torch_geometric.datasets.<cls_name>``, built (and its ``processed/`` written) in a
    mirror of ``root`` under our cache, ``sub`` the dataset's name argument; classes that ship their data
    (KarateClub) take no root. Runs under :func:`guarded_loading`; downloads only with ``download``."""
    import inspect

    import torch_geometric.datasets as pyg_datasets

    cls = getattr(pyg_datasets, cls_name, None) if cls_name.isidentifier() else None
    if cls is None or not inspect.isclass(cls):
        raise ConfigError(f"torch_geometric.datasets has no class {cls_name!r} (dataset {label!r})")
    params = inspect.signature(cls).parameters
    takes_root = "root" in params
    others = [n for n in params if n != "root"]
    args = (sub,) if sub else ()
    named = bool(others) and others[0] not in _PYG_OPTIONS
    try:
        if sub and not named:
            raise TypeError("it takes no name argument")
        inspect.signature(cls).bind(*(("root",) if takes_root else ()), *args)
    except TypeError as exc:
        how = f"pyg:{cls_name}/<name>" if not sub else f"pyg:{cls_name}"
        raise ConfigError(f"dataset {label!r}: torch_geometric.datasets.{cls_name} cannot be built from it ({exc}); "
                          f"write {how}") from None
    if not takes_root:
        with guarded_loading():
            try:
                return _first_graph(_guarded_class(cls, label, root, download)(*args), label)
            except (Exception, PickleRefused) as exc:  # noqa: BLE001  (any failure of the library becomes a named DataError)
                raise _load_failure(label, "its shipped data", exc, hint="") from None
    root = _need_root(label, root)
    if not download and not any(Path(root).iterdir()):
        raise DataError(f"{label}: {root} is empty; put the dataset's files there, or pass download=true when online")
    return _in_workdir(label, root, lambda work: _first_graph(_guarded_class(cls, label, root, download)(str(work), *args), label))


def _in_workdir(label: str, root: str, load: Callable[[Path], Any]) -> Any:
    """``load(work)`` in the cache's mirror of ``root`` (:func:`pyg_workdir`), under :func:`guarded_loading`; a reused
    cache entry whose processed files do not load (damaged: truncated, not a torch file) is built again once, with a
    warning naming it (walk 49A: every later run failed, blaming data_root); a refused pickle or a DataError is not
    damage (:func:`_refusal`: a crafted file is named), and neither is a failure of a fresh build: both are a DataError
    naming ``label``."""
    for rebuild in (False, True):
        with pyg_workdir(Path(root), label, rebuild=rebuild) as work, guarded_loading():
            try:
                return load(work)
            except (Exception, PickleRefused) as exc:  # noqa: BLE001  (refused pickle, missing file, malformed file ...)
                if rebuild or not is_reused(work) or _refusal(exc) is not None:  # a refused pickle is news, not damage
                    raise _load_failure(label, root, exc) from None
                logger.warning("%s: the cache entry %s does not load (%s: %s); building it again from %s", label, work,
                               type(exc).__name__, str(exc)[:400], root)
    raise AssertionError("unreachable")


def _ogbn_arxiv(root: str, download: bool) -> dict[str, Any]:
    try:
        from ogb.nodeproppred import PygNodePropPredDataset
    except ImportError:
        raise ConfigError(
            "ogbn-arxiv is read with OGB's loader: pip install ogb — or save the graph once as "
            "dataset=saved (modalities.graph.export.save_graph_data) and load that"
        ) from None
    def load(work: Path) -> tuple[dict[str, Any], Any]:
        ds = _guarded_class(PygNodePropPredDataset, "ogbn-arxiv", root, download)("ogbn-arxiv", root=str(work))
        return _first_graph(ds, "ogbn-arxiv"), ds.get_idx_split()

    raw, split = _in_workdir("ogbn-arxiv", root, load)
    raw.update(train_mask=split["train"], val_mask=split["valid"], test_mask=split["test"])
    return raw
