"""Loading clip-classification sets: video files (decord), folders of frame images, in-memory tensors and the
generated moving digits.

Every loader returns a :class:`VideoSet`: float clips (N, C, T, H, W) in [0, 1] per split, labels, class
names and a :class:`LoadReport` of what was skipped, padded or shortened (each named with a count).

Frame sampling (the reference's ``distill_utils/dataset.py``: 16 frames, a gap of 4 frames, a random start;
a clip shorter than ``num_frames x frame_gap`` gets a gap of ``length // num_frames``): ``num_frames``
frames ``frame_gap`` apart, starting at a random offset (``offset="random"``, seeded per clip) or in the
middle of the clip (``offset="center"``); ``short`` says what happens to a clip shorter than
``(num_frames - 1) x frame_gap + 1`` frames: ``gap`` (the reference: the gap shrinks to fit; a clip with
fewer than ``num_frames`` frames is then padded by repeating its last frame), ``pad`` (keep the gap, repeat
the last frame) or ``skip`` (drop the clip). Each case is counted and named in the log and the manifest.

Decoded clips are cached as one uint8 safetensors file per split, keyed by the file list (paths, sizes and
modification times) and the decode settings, so a second run with the same settings does not decode again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import ConfigError, DataError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SHORT_POLICIES = ("gap", "pad", "skip")
OFFSETS = ("random", "center")


@dataclass(frozen=True)
class FrameSampling:
    """How frames are taken from a clip and resized."""

    num_frames: int = 16
    frame_gap: int = 4
    offset: str = "random"
    short: str = "gap"
    frame_size: int | None = 112
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.frame_gap < 1:
            raise ConfigError(f"num_frames and frame_gap must be >= 1, got {self.num_frames}, {self.frame_gap}")
        if self.offset not in OFFSETS:
            raise ConfigError(f"offset must be one of {OFFSETS}, got {self.offset!r}")
        if self.short not in SHORT_POLICIES:
            raise ConfigError(f"short must be one of {SHORT_POLICIES}, got {self.short!r}")
        if self.frame_size is not None and self.frame_size < 4:
            raise ConfigError(f"frame_size must be >= 4 pixels, got {self.frame_size}")

    @property
    def span(self) -> int:
        return (self.num_frames - 1) * self.frame_gap + 1

    def indices(self, length: int, key: str) -> tuple[list[int] | None, str]:
        """Frame indices for a clip of ``length`` frames (None: skip it) and what was done (``ok``, ``gap``,
        ``pad`` or ``skip``). ``key`` (the clip's path) seeds its random offset."""
        if length <= 0:
            return None, "skip"
        gap, kind = self.frame_gap, "ok"
        if length < self.span:
            if self.short == "skip":
                return None, "skip"
            if self.short == "gap":
                gap = max(1, length // self.num_frames)
            kind = self.short
        span = (self.num_frames - 1) * gap + 1
        room = max(0, length - span)
        if self.offset == "center":
            start = room // 2
        else:
            digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
            start = int.from_bytes(digest[:8], "little") % (room + 1)
        idx = [min(start + i * gap, length - 1) for i in range(self.num_frames)]
        if kind == "gap" and length < self.num_frames:
            kind = "gap+pad"
        return idx, kind


@dataclass
class LoadReport:
    """What the loader did not take as it was: each list holds ``(path, reason)``."""

    unreadable: list[tuple[str, str]] = field(default_factory=list)
    skipped_short: list[tuple[str, str]] = field(default_factory=list)
    padded: list[tuple[str, str]] = field(default_factory=list)
    shrunk_gap: list[tuple[str, str]] = field(default_factory=list)
    cache: str = ""

    def counts(self) -> dict[str, int]:
        return {"unreadable": len(self.unreadable), "skipped_short": len(self.skipped_short), "padded": len(self.padded),
                "shrunk_gap": len(self.shrunk_gap)}

    def lines(self) -> list[str]:
        out = []
        for key, what in (("unreadable", "unreadable or empty file(s) skipped"),
                          ("skipped_short", "clip(s) shorter than num_frames x frame_gap skipped (short=skip)"),
                          ("padded", "short clip(s) padded by repeating the last frame"),
                          ("shrunk_gap", "short clip(s) sampled with a smaller frame gap (short=gap, the reference's rule)")):
            items = getattr(self, key)
            if items:
                examples = "; ".join(f"{p} ({r})" for p, r in items[:3])
                out.append(f"{len(items)} {what}: {examples}{' ...' if len(items) > 3 else ''}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts(), **{k: [p for p, _ in getattr(self, k)][:20] for k in ("unreadable", "skipped_short", "padded", "shrunk_gap")},
                "cache": self.cache}


@dataclass
class VideoSet:
    """Float clips (N, C, T, H, W) in [0, 1] and labels of both splits."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: list[str]
    report: LoadReport = field(default_factory=LoadReport)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    path: Path
    label: str
    split: str  # "train" | "test"


# --------------------------------------------------------------------------- discovery
def _is_video(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS


def _is_frame_dir(p: Path) -> bool:
    return p.is_dir() and any(f.suffix.lower() in IMAGE_EXTENSIONS for f in p.iterdir())


def _class_tree(root: Path, split: str, kind: str) -> list[Item]:
    items = []
    for cls in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        members = [p for p in sorted(cls.iterdir()) if (_is_video(p) if kind == "files" else _is_frame_dir(p))]
        if kind == "files":  # files of unknown type are tried too, so an unreadable one is named rather than ignored
            members = [p for p in sorted(cls.rglob("*")) if p.is_file() and not p.name.startswith(".")]
        items += [Item(p, cls.name, split) for p in members]
    return items


def _read_csv(path: Path, root: Path) -> list[Item]:
    items = []
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    for n, row in enumerate(rows, 1):
        if not row or not row[0].strip():
            continue
        if len(row) < 3:
            raise DataError(f"{path}, row {n}: expected path,label,split, got {row}")
        split = row[2].strip().lower()
        split = {"val": "test", "validation": "test", "valid": "test"}.get(split, split)
        if split not in ("train", "test"):
            raise DataError(f"{path}, row {n}: split must be train, test or val, got {row[2]!r}")
        items.append(Item(root / row[0].strip(), row[1].strip(), split))
    return items


def _read_ucf_lists(trainlist: Path, root: Path) -> list[Item]:
    """UCF101's ``trainlist0N.txt`` (``Class/v_Class_gXX_cYY.avi [index]``) and its ``testlist0N.txt`` beside it;
    the class is the folder of each path."""
    testlist = trainlist.with_name(trainlist.name.replace("train", "test"))
    if testlist == trainlist or not testlist.exists():
        raise DataError(f"split file {trainlist}: no matching test list {testlist.name} beside it")
    items = []
    for split, path in (("train", trainlist), ("test", testlist)):
        for line in path.read_text().splitlines():
            parts = line.strip().split()
            if parts:
                rel = Path(parts[0])
                items.append(Item(root / rel, rel.parent.name if rel.parent.name else "?", split))
    return items


def discover(root: str | Path, kind: str, split_file: str | None, test_fraction: float, seed: int) -> list[Item]:
    """The clips of ``root`` (``kind``: ``files`` or ``frames``) with their class and split.

    Layouts: ``root/<class>/<clip>`` (a split is drawn: ``test_fraction`` of each class, seeded),
    ``root/train/<class>/...`` + ``root/test/<class>/...`` (``val`` counts as test), a CSV ``path,label,split``
    (``split_file``, or ``root`` itself, or ``root/clips.csv``), or UCF101's ``trainlist0N.txt`` as
    ``split_file`` (its ``testlist0N.txt`` beside it)."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"data_root {root} does not exist")
    csv_path = Path(split_file).expanduser() if split_file else None
    if csv_path is None and root.is_file() and root.suffix.lower() == ".csv":
        csv_path, root = root, root.parent
    if csv_path is None and (root / "clips.csv").exists():
        csv_path = root / "clips.csv"
    if csv_path is not None:
        if not csv_path.exists():
            raise DataError(f"split file {csv_path} does not exist")
        items = _read_csv(csv_path, root) if csv_path.suffix.lower() == ".csv" else _read_ucf_lists(csv_path, root)
        missing = [it for it in items if not it.path.exists()]
        if missing:
            names = ", ".join(str(it.path) for it in missing[:5])
            raise DataError(f"split file {csv_path} names {len(missing)} clip(s) that do not exist: {names}"
                            f"{' ...' if len(missing) > 5 else ''}")
        return items
    if not root.is_dir():
        raise DataError(f"data_root {root} is neither a folder nor a CSV of path,label,split")
    subdirs = {d.name.lower(): d for d in root.iterdir() if d.is_dir()}
    if "train" in subdirs and ("test" in subdirs or "val" in subdirs):
        return _class_tree(subdirs["train"], "train", kind) + _class_tree(subdirs.get("test") or subdirs["val"], "test", kind)
    items = _class_tree(root, "train", kind)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for label in sorted({it.label for it in items}):
        members = [it for it in items if it.label == label]
        perm = torch.randperm(len(members), generator=gen).tolist()
        n_test = int(round(test_fraction * len(members))) if len(members) > 1 else 0
        test = set(perm[:n_test])
        out += [Item(it.path, it.label, "test" if i in test else "train") for i, it in enumerate(members)]
    return out


# --------------------------------------------------------------------------- decoding
def _decord():
    try:
        import decord
    except ImportError as exc:  # pragma: no cover - the video extra installs it
        raise ConfigError("reading video files needs decord: pip install 'mmdistill[video]'") from exc
    decord.bridge.set_bridge("native")
    return decord


def _decode_file(path: Path, sampling: FrameSampling) -> tuple[np.ndarray | None, int, str]:
    """(T, H, W, 3) uint8 frames, the clip's length, and what was done (or the error)."""
    decord = _decord()
    try:
        size = {} if sampling.frame_size is None else {"width": sampling.frame_size, "height": sampling.frame_size}
        vr = decord.VideoReader(str(path), num_threads=1, **size)
        length = len(vr)
    except Exception as exc:  # decord raises its own error type for corrupt or unknown files
        return None, 0, f"unreadable: {str(exc).splitlines()[0][-120:]}"
    idx, kind = sampling.indices(length, str(path))
    if idx is None:
        return None, length, "skip" if length else "unreadable: no frames"
    try:
        frames = vr.get_batch(idx).asnumpy()
    except Exception as exc:
        return None, length, f"unreadable: {str(exc).splitlines()[0][-120:]}"
    return frames, length, kind


def _decode_frame_dir(path: Path, sampling: FrameSampling) -> tuple[np.ndarray | None, int, str]:
    from PIL import Image

    files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
    idx, kind = sampling.indices(len(files), str(path))
    if idx is None:
        return None, len(files), "skip" if files else "unreadable: no frame images"
    frames = []
    try:
        for i in idx:
            with Image.open(files[i]) as im:
                im = im.convert("RGB")
                if sampling.frame_size is not None and im.size != (sampling.frame_size, sampling.frame_size):
                    im = im.resize((sampling.frame_size, sampling.frame_size), Image.BILINEAR)
                frames.append(np.asarray(im))
    except Exception as exc:
        return None, len(files), f"unreadable: {files[i].name}: {exc}"
    return np.stack(frames), len(files), kind


def _fingerprint(items: list[Item], sampling: FrameSampling, kind: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"kind": kind, "sampling": sampling.__dict__, "version": 1}, sort_keys=True).encode())
    for it in items:
        st = it.path.stat()
        h.update(f"{it.path.resolve()}|{it.label}|{it.split}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:24]


def default_cache_dir() -> Path:
    return Path(os.environ.get("MMDISTILL_CACHE", Path.home() / ".cache" / "mmdistill")) / "video"


def load_clip_folder(root: str | Path, *, kind: str = "files", sampling: FrameSampling = FrameSampling(), split_file: str | None = None,
                     test_fraction: float = 0.2, strict: bool = False, cache_dir: str | Path | None = None,
                     use_cache: bool = True) -> VideoSet:
    """Clips of a folder of video files (``kind="files"``, decoded with decord) or of frame-image folders
    (``kind="frames"``: one folder of ``*.jpg``/``*.png`` per clip, the reference's layout); see
    :func:`discover` for the layouts and the module docstring for sampling, short clips and the cache."""
    items = discover(root, kind, split_file, test_fraction, sampling.seed)
    if not items:
        raise DataError(f"no clips found under {root} (expected {'video files' if kind == 'files' else 'folders of frame images'} "
                        "in one sub-folder per class, or a CSV path,label,split)")
    report = LoadReport()
    cache_path = None
    if use_cache:
        cache_path = Path(cache_dir or default_cache_dir()) / f"{Path(root).name}-{_fingerprint(items, sampling, kind)}.safetensors"
        if cache_path.exists():
            from safetensors.torch import load_file
            from safetensors import safe_open

            with safe_open(str(cache_path), "pt") as fh:
                meta = fh.metadata()
            tensors = load_file(str(cache_path))
            saved = json.loads(meta["report"])
            for key in ("unreadable", "skipped_short", "padded", "shrunk_gap"):
                setattr(report, key, [tuple(v) for v in saved[key]])
            report.cache = f"hit {cache_path}"
            for line in report.lines():
                log.warning("%s", line)
            return VideoSet(Path(root).name, tensors["x_train"].float() / 255, tensors["y_train"].long(),
                            tensors["x_test"].float() / 255, tensors["y_test"].long(), json.loads(meta["classes"]), report,
                            {"native_sizes": json.loads(meta["native_sizes"])})
    decode = _decode_file if kind == "files" else _decode_frame_dir
    clips: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    labels: dict[str, list[str]] = {"train": [], "test": []}
    sizes: dict[tuple[int, int], list[str]] = {}
    for it in items:
        frames, length, what = decode(it.path, sampling)
        if frames is None:
            if what.startswith("unreadable"):
                report.unreadable.append((str(it.path), what[len("unreadable: "):] or "unreadable"))
                if strict:
                    raise DataError(f"{it.path} cannot be decoded ({what}); without --strict it would be skipped and counted")
            else:
                report.skipped_short.append((str(it.path), f"{length} frames < {sampling.span}"))
            continue
        if what in ("pad", "gap+pad"):
            report.padded.append((str(it.path), f"{length} frames"))
        if what in ("gap", "gap+pad"):
            report.shrunk_gap.append((str(it.path), f"{length} frames, gap {max(1, length // sampling.num_frames)}"))
        sizes.setdefault((frames.shape[1], frames.shape[2]), []).append(str(it.path))
        clips[it.split].append(frames)
        labels[it.split].append(it.label)
    for line in report.lines():
        log.warning("%s", line)
    if not clips["train"] and not clips["test"]:
        raise DataError(f"no decodable clip under {root}: {len(report.unreadable)} unreadable, {len(report.skipped_short)} too short "
                        f"({'; '.join(report.lines())})")
    if len(sizes) > 1:
        desc = ", ".join(f"{w}x{h} ({len(v)} clips, e.g. {v[0]})" for (h, w), v in sizes.items())
        raise DataError(f"clips under {root} have mixed frame sizes: {desc}; pass --frame-size N to resize every frame to NxN")
    classes = sorted(set(labels["train"]) | set(labels["test"]))
    if not clips["train"]:
        raise DataError(f"no training clip under {root} (all {len(clips['test'])} decodable clips are in the test split)")
    if not clips["test"]:
        raise DataError(f"no test clip under {root}: give a split (train/ and test/ folders, a CSV or a split file)")

    def stack(split: str) -> tuple[Tensor, Tensor]:
        x = torch.from_numpy(np.stack(clips[split])).permute(0, 4, 1, 2, 3).contiguous()  # (N, 3, T, H, W) uint8
        y = torch.tensor([classes.index(c) for c in labels[split]], dtype=torch.long)
        return x, y

    (xtr, ytr), (xte, yte) = stack("train"), stack("test")
    native = {f"{w}x{h}": len(v) for (h, w), v in sizes.items()}
    if cache_path is not None:
        from safetensors.torch import save_file

        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(".tmp")
        save_file({"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}, str(tmp),
                  metadata={"classes": json.dumps(classes), "report": json.dumps({k: getattr(report, k) for k in ("unreadable", "skipped_short", "padded", "shrunk_gap")}),
                            "sampling": json.dumps(sampling.__dict__), "native_sizes": json.dumps(native)})
        os.replace(tmp, cache_path)
        report.cache = f"wrote {cache_path}"
    return VideoSet(Path(root).name, xtr.float() / 255, ytr, xte.float() / 255, yte, classes, report, {"native_sizes": native})


def from_tensors(x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, classes: Iterable[str] | None = None,
                 name: str = "tensors") -> VideoSet:
    """A set from in-memory clips (N, C, T, H, W) (float in [0, 1], or uint8) and labels (N,)."""
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dim() != 5:
            raise DataError(f"{split} clips must be (N, C, T, H, W), got shape {tuple(x.shape)}")
        if y.dim() != 1 or len(y) != len(x):
            raise DataError(f"{split} labels must be (N,) with N = {len(x)}, got shape {tuple(y.shape)}")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"train clips {tuple(x_train.shape[1:])} and test clips {tuple(x_test.shape[1:])} differ in shape")
    n_cls = int(max(y_train.max(), y_test.max())) + 1
    classes = list(classes) if classes is not None else [str(i) for i in range(n_cls)]

    def f(x: Tensor) -> Tensor:
        return x.float() / 255 if x.dtype == torch.uint8 else x.float()

    return VideoSet(name, f(x_train), y_train.long(), f(x_test), y_test.long(), classes)


def moving_digits_set(spec: Any = None) -> VideoSet:
    from .moving_digits import MovingDigitsSpec, generate

    spec = spec or MovingDigitsSpec()
    xtr, ytr, xte, yte, classes = generate(spec)
    return VideoSet("moving-digits", xtr, ytr, xte, yte, classes, meta={"spec": dict(spec.__dict__)})


__all__ = ["FrameSampling", "IMAGE_EXTENSIONS", "Item", "LoadReport", "OFFSETS", "SHORT_POLICIES", "VIDEO_EXTENSIONS", "VideoSet",
           "default_cache_dir", "discover", "from_tensors", "load_clip_folder", "moving_digits_set"]
