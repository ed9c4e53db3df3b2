"""Readers of paired audio-visual data into :class:`~.data.AVData`.

Sources (``dataset``):

* ``video``: clips with sound (``data_root`` laid out as the video adapter reads it: class folders, train/test
  folders, or a ``path,label,split`` CSV such as kinetics-tiny's ``clips.csv``); the middle frame through decord's
  ``VideoReader`` and the sound track through decord's ``AudioReader`` (mono), resampled with torchaudio;
* ``csv``: a CSV ``image_path,audio_path,label[,split]`` (paths relative to the CSV; optional ``image_label`` and
  ``audio_label`` columns must agree with each other; without a split column ``test_fraction`` of each class's
  readable pairs is held out, seeded, as the audio loader does);
* a name registered with :func:`register_tensors` (in-memory tensors);
* ``tones-digits``: generated, no files (tones of the audio adapter paired with scikit-learn digits).

Bad input is named with counts: a clip without an audio track, or a file that exists but cannot be decoded, is
skipped (listed, and named in the set's ``load_report``) or fails in ``strict`` mode; a class all of whose files were
skipped stays a class (and is refused by the per-class check, naming it); audio at another sample rate is resampled
and counted per source rate; clips padded or cropped to ``duration`` are counted; a pair whose labels disagree, a row
listed twice, a row without a label, a listed file that does not exist (a wrong path is a listing error, not a bad
file: refused with or without ``strict``, as the audio CSV loader and the video split file refuse it), NaN or
out-of-range tensors fail naming the rows. Every message names the file.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmdistill.data import held_out_flags
from mmdistill.errors import ConfigError, DataError
from mmdistill.io import decode_utf8
from mmdistill.load_report import LoadReport, relative_name

from ..artifacts import check_class_ids, classes_without_test
from ..image.datasets import to_8bit
from ..audio.decode import BadFile, Clip, decode, describe_bad, fix_length, length_counts, resample_clips
from .data import AVData, check_pair_labels, image_tensor, log_mel, normalise_pairs

log = logging.getLogger(__name__)

#: the load report's kinds (:class:`mmdistill.load_report.LoadReport`) and what each says
REPORT_KINDS = {"unreadable": "unreadable pair(s) or clip(s) without a usable audio track skipped",
                "resampled": "audio file(s) resampled", "padded": "clip(s) padded with silence", "cropped": "clip(s) cropped",
                "silent": "all-zero audio clip(s) (digital silence) kept and trained on"}

BUILT_IN = ("tones-digits", "csv", "video")

#: in-memory sets registered by API users (:func:`register_tensors`): name -> AVData-making arguments
_TENSOR_SETS: dict[str, dict[str, Any]] = {}


@dataclass
class RawPair:
    """One pair before featurising: its name, the decoded clip, the frame (C, h, w) in [0, 1], class, split."""

    name: str
    clip: Clip
    image: Tensor
    label: str
    split: str


def register_tensors(name: str, audio_train: Tensor, image_train: Tensor, y_train: Tensor, audio_test: Tensor, image_test: Tensor,
                     y_test: Tensor, classes: list[str] | None = None) -> str:
    """Make in-memory pairs loadable as ``dataset=name``: waveforms (N, T) at the config's ``sample_rate``, frames
    (N, C, h, w) in [0, 1] (or uint8), class ids (N,) 0..K-1 with every class in ``y_train`` (K = the number of
    ``classes`` names, or the largest label + 1); other labels are a DataError here. Returns ``name``."""
    if name in BUILT_IN:
        raise ConfigError(f"{name!r} is a built-in dataset name; choose another")
    for what, a, i, y in (("train", audio_train, image_train, y_train), ("test", audio_test, image_test, y_test)):
        where = f"register_tensors({name!r}): {what}"
        if a.dim() != 2 or i.dim() != 4 or y.dim() != 1 or not len(a) == len(i) == len(y):
            raise DataError(f"{where} needs audio (N, T), frames (N, C, h, w) and labels (N,) of one N; got "
                            f"{tuple(a.shape)}, {tuple(i.shape)}, {tuple(y.shape)}")
        if len(y) == 0:
            raise DataError(f"{where} holds no pairs")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise DataError(f"{where}: labels must be integer class ids, got dtype {y.dtype}")
        for side, t in (("audio", a), ("frames", i)):
            if t.is_floating_point():
                rows = (~torch.isfinite(t.reshape(len(t), -1))).any(dim=1).nonzero().flatten().tolist()
                if rows:
                    raise DataError(f"{where} {side} hold NaN or infinite values in {len(rows)} pair(s): rows {rows[:10]}"
                                    f"{' ...' if len(rows) > 10 else ''}")
        if i.dtype != torch.uint8:
            if not i.is_floating_point():
                raise DataError(f"{where}: frames must be floats in [0, 1] or uint8, got dtype {i.dtype}")
            lo, hi = float(i.min()), float(i.max())
            if lo < -1e-3 or hi > 1.0 + 1e-3:
                raise DataError(f"{where}: float frames must lie in [0, 1] (uint8 for 0..255), got values in [{lo:g}, {hi:g}]")
    names = check_class_ids(f"register_tensors({name!r})", y_train, y_test, classes)  # 0..K-1, every class trained
    _TENSOR_SETS[name] = dict(audio=(audio_train, audio_test), image=(image_train, image_test), y=(y_train, y_test), classes=names)
    return name


def load_pairs(cfg: Any) -> AVData:
    """The dataset ``cfg.dataset`` as normalised :class:`AVData` (see the module docstring)."""
    name = cfg.dataset
    if name in _TENSOR_SETS:
        return _from_tensors(name, cfg)
    if name == "tones-digits":
        from .digits import tones_digits_pairs

        return featurise(name, tones_digits_pairs(cfg.seed, sample_rate=cfg.sample_rate, duration=cfg.duration), cfg)
    if name == "csv":
        root = Path(_root(cfg))
        pairs, classes, bad, drawn = _read_csv(root, cfg.test_fraction, cfg.seed, cfg.strict)
        data = featurise(root.stem, pairs, cfg, classes=classes, skipped=bad, root=root.parent)
        if drawn:  # recorded in the set's meta: mmdistill.share.warn_split_rule names a set made under the earlier rule
            data.meta["split_rule"] = SPLIT_RULE
        return data
    if name == "video":
        root = Path(_root(cfg))
        pairs, classes, bad, mismatched = _read_video(root, cfg)
        report = LoadReport(descriptions={"length_mismatch": "clip(s) whose sound track and video differ in length (kept)"})
        report.extend("length_mismatch", ((m, "") for m in mismatched))
        return featurise(root.name, pairs, cfg, classes=classes, skipped=bad, root=root, report=report)
    raise ConfigError(f"unknown audio-visual dataset {name!r}; choose from {', '.join(BUILT_IN)} or a name given to register_tensors "
                      f"({', '.join(sorted(_TENSOR_SETS)) or 'none registered'})")


def _root(cfg: Any) -> str:
    if not cfg.data_root:
        raise ConfigError(f"dataset {cfg.dataset!r} needs --data-root (a {'CSV file' if cfg.dataset == 'csv' else 'folder of clips'})")
    root = Path(cfg.data_root).expanduser()
    if not root.exists():
        raise DataError(f"data_root {root} does not exist")
    return str(root)


def _from_tensors(name: str, cfg: Any) -> AVData:
    spec = _TENSOR_SETS[name]
    params = cfg.feature_params()
    n = int(round(cfg.duration * cfg.sample_rate))
    parts = []
    for s in (0, 1):
        y = spec["y"][s].long()
        check_pair_labels(y, len(spec["classes"]), f"register_tensors({name!r})")
        img = spec["image"][s]
        img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
        waves = fix_length(spec["audio"][s].float(), n)
        parts.append((log_mel(waves, params, cfg.audio_frames), image_tensor(img, cfg.image_size, cfg.image_channels), y, []))
    lengths = [spec["audio"][s].shape[-1] for s in (0, 1) for _ in range(len(spec["y"][s]))]
    _log_lengths(name, lengths, n, cfg)  # in memory: logged, no load report
    return normalise_pairs(name, spec["classes"], parts[0], parts[1], _meta(cfg, n))


def _meta(cfg: Any, num_samples: int) -> dict[str, Any]:
    return {"features": cfg.feature_params().to_dict(), "num_samples": num_samples, "audio_frames": cfg.audio_frames}


def featurise(name: str, pairs: list[RawPair], cfg: Any, *, classes: list[str] | None = None, skipped: list[BadFile] | None = None,
              root: Path | None = None, report: LoadReport | None = None) -> AVData:
    """Resample every clip to ``cfg.sample_rate`` (counted per source rate, logged), fix its length (padded and cropped
    clips counted), take the log-mel spectrogram; resize the frames; normalise with the training split's statistics.
    ``classes``: every class the source names (None: those of ``pairs``), so a class whose files were all skipped is
    kept, and refused by the per-class check naming it; ``skipped``: the files left out, named in the load report
    (``report``: one the reader began, or a new one; its root is ``root``), which ``meta["load_report"]`` holds
    when the pairs were read from files (``root`` given; generated pairs get none)."""
    if not pairs:
        raise DataError(f"{name}: no readable pairs" + (f" ({describe_bad(skipped)})" if skipped else ""))
    other = {}
    for p in pairs:
        if p.clip.sample_rate != cfg.sample_rate:
            other.setdefault(p.clip.sample_rate, []).append(p.name)
    for rate, names in sorted(other.items()):
        log.warning("%s: resampled %d audio file(s) from %d Hz to %d Hz: %s%s", name, len(names), rate, cfg.sample_rate,
                    ", ".join(names[:3]), " ..." if len(names) > 3 else "")
    classes = list(classes) if classes is not None else sorted({p.label for p in pairs}, key=_natural)
    empty = [c for c in classes if not any(p.label == c for p in pairs)]
    if empty:
        log.warning("%s: %d class(es) kept no readable pair (all their files were skipped): %s", name, len(empty), ", ".join(map(repr, empty[:10])))
    n = int(round(cfg.duration * cfg.sample_rate))
    params = cfg.feature_params()
    parts, lengths, silent = [], [], []
    for split in ("train", "test"):
        members = [p for p in pairs if p.split == split]
        if not members:
            raise DataError(f"{name}: the {split} split holds no pairs")
        resampled = resample_clips([p.clip for p in members], cfg.sample_rate)
        lengths += [len(w) for w in resampled]
        silent += [p.name for p, w in zip(members, resampled) if not bool(w.any())]
        waves = torch.stack([fix_length(w, n) for w in resampled])
        parts.append((log_mel(waves, params, cfg.audio_frames), image_tensor([p.image for p in members], cfg.image_size, cfg.image_channels),
                      torch.tensor([classes.index(p.label) for p in members]), [p.name for p in members]))
    report = report if report is not None else LoadReport()
    report.root, report.descriptions = str(root) if root is not None else "", {**REPORT_KINDS, **report.descriptions}
    padded, cropped = _log_lengths(name, lengths, n, cfg)
    report.count("padded", padded)
    report.count("cropped", cropped)
    report.facts.update(pairs=len(lengths), duration_s=float(cfg.duration))
    report.extend("unreadable", ((b.name, b.reason) for b in skipped or []))
    report.extend("silent", ((p, "every sample is 0") for p in silent))
    if silent:
        log.warning("%s: %s", name, describe_bad([BadFile(p, "every sample is 0") for p in silent], what="pair with an all-zero audio clip",
                                                 verb="kept", note=" (digital silence: a recording or export that wrote no sound?)"))
    report.count("resampled", sum(len(v) for v in other.values()))
    report.facts["resampled_from_hz"] = {str(k): len(v) for k, v in sorted(other.items())}
    classes_without_test(name, classes, parts[0][2], parts[1][2], "a class needs two readable pairs to hold one out, or "
                         "the split gives it no test row", report, what="pair")
    meta = {**_meta(cfg, n), "resampled_files": {str(k): len(v) for k, v in other.items()},
            **({"load_report": report.as_dict()} if report.root else {})}
    return normalise_pairs(name, classes, parts[0], parts[1], meta)


def _log_lengths(name: str, lengths: list[int], n: int, cfg: Any) -> tuple[int, int]:
    """Log how many of the clips of ``lengths`` samples are padded / cropped (centred) to ``n`` samples; returns
    ``(padded, cropped)``."""
    padded, cropped = length_counts(lengths, n)
    if padded:
        log.info("%s: padded %d clip(s) shorter than %g s with silence (centred)", name, padded, cfg.duration)
    if cropped:
        log.info("%s: cropped %d clip(s) longer than %g s to their middle %g s (--duration)", name, cropped, cfg.duration, cfg.duration)
    return padded, cropped


def _natural(s: str) -> tuple:
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


# --------------------------------------------------------------------------- CSV
REQUIRED = ("image_path", "audio_path", "label")


def read_csv_pairs(path: Path, test_fraction: float = 0.2, seed: int = 0, strict: bool = True) -> list[RawPair]:
    """The rows of a CSV ``image_path,audio_path,label[,split][,image_label,audio_label]`` as pairs. DataError naming
    the file and rows for a missing column or file, an empty field, an unknown split, a pair listed twice, or labels
    that disagree (``image_label`` vs ``audio_label`` on a row, or one file listed under two labels). A file that
    cannot be decoded fails (``strict``) or is skipped and logged."""
    return _read_csv(path, test_fraction, seed, strict)[0]


#: how the CSV reader holds out pairs when the CSV has no split column (since 5 December 2026; before, each row was
#: drawn on its own); stored as ``meta["split_rule"]`` of such data and of the sets distilled from it
SPLIT_RULE = "per class (test_fraction of each class's readable pairs, seeded)"


def _read_csv(path: Path, test_fraction: float, seed: int, strict: bool) -> tuple[list[RawPair], list[str], list[BadFile], bool]:
    """(pairs, every class the CSV names, the skipped files, whether the split was drawn): see :func:`read_csv_pairs`."""
    try:
        reader = csv.DictReader(io.StringIO(decode_utf8(path.read_bytes(), path), newline=""))
        fields = [f.strip() for f in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in fields]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; expected a header image_path,audio_path,label[,split]")
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read CSV file {path} (a UTF-8 text file of image_path,audio_path,label[,split] rows): {exc}") from None
    if not rows:
        raise DataError(f"{path}: holds no rows after its header; expected image_path,audio_path,label[,split] rows")
    empty = [f"row {n} ({', '.join(c for c in REQUIRED if not r.get(c))})" for n, r in enumerate(rows, 2) if not all(r.get(c) for c in REQUIRED)]
    if empty:
        raise DataError(f"{path}: {len(empty)} row(s) with an empty {'/'.join(REQUIRED)} field: {'; '.join(empty[:5])}"
                        f"{' ...' if len(empty) > 5 else ''}")
    disagree, seen, twice, pair_rows = [], {}, [], {}
    for n, r in enumerate(rows, 2):
        labels = {r["label"]} | {r[c] for c in ("image_label", "audio_label") if r.get(c)}
        if len(labels) > 1:
            disagree.append(f"row {n} ({r['image_path']}, {r['audio_path']}: {sorted(labels)})")
        for col in ("image_path", "audio_path"):
            first = seen.setdefault((col, r[col]), (n, r["label"]))
            if first[1] != r["label"]:
                disagree.append(f"row {n} ({r[col]} labelled {r['label']!r}, row {first[0]} {first[1]!r})")
        pair = (r["image_path"], r["audio_path"])
        if pair in pair_rows:
            twice.append(f"rows {pair_rows[pair]} and {n} ({pair[0]}, {pair[1]})")
        pair_rows.setdefault(pair, n)
    if disagree:
        raise DataError(f"{path}: {len(disagree)} pair(s) whose labels disagree: {'; '.join(disagree[:5])}{' ...' if len(disagree) > 5 else ''}")
    if twice:
        raise DataError(f"{path}: {len(twice)} pair(s) listed more than once (a pair counts once, in one split): {'; '.join(twice[:5])}"
                        f"{' ...' if len(twice) > 5 else ''}")
    root = path.parent
    absent = [f"row {n}: {root / r[c]}" for n, r in enumerate(rows, 2) for c in ("image_path", "audio_path") if not (root / r[c]).is_file()]
    if absent:
        raise DataError(f"{path}: {len(absent)} file(s) do not exist: {'; '.join(absent[:5])}{' ...' if len(absent) > 5 else ''} "
                        f"(paths are relative to the CSV's folder {root}; a listed file that does not exist is a listing "
                        "error, with or without strict, as in the audio CSV loader: fix the path or remove the row; a file "
                        "that exists but cannot be decoded is skipped and counted instead)")
    splits = [_split(r.get("split", ""), path, n) for n, r in enumerate(rows, 2)]
    drawn = all(s is None for s in splits)
    pairs, bad = [], []
    for n, (r, split) in enumerate(zip(rows, splits), 2):
        try:
            clip = decode(str(root / r["audio_path"]), str(root / r["audio_path"]))
            image = _read_image(root / r["image_path"])
        except DataError as exc:
            if strict:
                raise DataError(f"{path}, row {n}: {exc} (strict mode; leave strict off to skip unreadable files)") from None
            pair = ", ".join(relative_name(r[c], root) for c in ("image_path", "audio_path"))  # each named under the CSV's folder
            bad.append(BadFile(pair, f"row {n}: {exc}"))
            continue
        pairs.append(RawPair(r["audio_path"], clip, image, r["label"], split or "train"))
    if bad:
        log.warning("%s: %s (of %d rows)", path, describe_bad(bad, what="unreadable pair"), len(rows))
    classes = sorted({r["label"] for r in rows}, key=_natural)
    if drawn:
        _hold_out(pairs, classes, test_fraction, seed)
    return pairs, classes, bad, drawn


def _hold_out(pairs: list[RawPair], classes: list[str], test_fraction: float, seed: int) -> None:
    """Mark a seeded ``test_fraction`` of every class's readable pairs as test, the rest train (in place): the
    audio loader's rule (:func:`mmdistill.data.held_out_flags`, at least one test pair of a class with two or
    more), drawn after decoding so that an unreadable file never leaves a class without test pairs."""
    order = [p for c in classes for p in pairs if p.label == c]
    for p, is_test in zip(order, held_out_flags([p.label for p in order], classes, test_fraction, seed)):
        p.split = "test" if is_test else "train"


def _split(value: str, path: Path, row: int) -> str | None:
    v = {"val": "test", "validation": "test", "valid": "test"}.get(value.lower(), value.lower())
    if v and v not in ("train", "test"):
        raise DataError(f"{path}, row {row}: split must be train, test or val, got {value!r}")
    return v or None


def _read_image(path: Path) -> Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode.startswith("I") or im.mode == "F":  # 16-bit (and 32-bit) grayscale: scaled, not saturated to white
                im = to_8bit(im, path)
            im = im.convert("L") if im.mode in ("L", "1") else im.convert("RGB")
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read image file {path}: {exc}") from None
    return torch.from_numpy(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())


# --------------------------------------------------------------------------- video files
def read_video_pairs(root: Path, cfg: Any) -> list[RawPair]:
    """Each clip's middle frame (decord ``VideoReader``) and its sound track (decord ``AudioReader``, mono, the
    file's own rate). A clip without an audio track or that cannot be decoded is skipped and listed (``strict``:
    DataError naming it)."""
    return _read_video(root, cfg)[0]


def _read_video(root: Path, cfg: Any) -> tuple[list[RawPair], list[str], list[BadFile], list[str]]:
    """(pairs, every class the layout names, the skipped clips, the clips whose sound track and video differ in
    length by more than 10 % and 0.1 s: logged, kept): see :func:`read_video_pairs`."""
    from ..video.datasets import _why, discover

    try:
        import decord
    except ImportError:
        raise ConfigError("reading video files needs decord: pip install decord") from None
    items = discover(root, "files", None, cfg.test_fraction, cfg.seed)
    pairs, bad, mismatched = [], [], []
    for it in items:
        try:
            vr = decord.VideoReader(str(it.path))
            frame = torch.from_numpy(vr[len(vr) // 2].asnumpy()).permute(2, 0, 1).float() / 255.0
            fps = float(vr.get_avg_fps())
            video_s = len(vr) / fps if fps > 0 else None
        except Exception as exc:  # noqa: BLE001 - decord raises DECORDError and RuntimeError
            bad.append(BadFile(str(it.path), f"no readable video stream: {_why(exc)[:120]}"))
            continue
        try:
            ar = decord.AudioReader(str(it.path), sample_rate=-1, mono=True)
            samples = np.asarray(ar[:].asnumpy(), dtype=np.float32).reshape(-1)
        except Exception:  # noqa: BLE001 - a file without an audio stream raises DECORDError
            bad.append(BadFile(str(it.path), "no audio track"))
            continue
        if samples.size == 0:
            bad.append(BadFile(str(it.path), "empty audio track"))
            continue
        if not np.isfinite(samples).all():
            bad.append(BadFile(str(it.path), "audio track holds NaN or infinite samples"))
            continue
        try:
            rate = _stream_rate(decord, str(it.path), samples.size)
        except Exception as exc:  # noqa: BLE001 - decord's resampler failed on this stream
            bad.append(BadFile(str(it.path), f"cannot tell the audio track's sample rate: {_why(exc)[:120]}"))
            continue
        audio_s = samples.size / rate
        if video_s is not None and abs(audio_s - video_s) > max(0.1, 0.1 * max(audio_s, video_s)):
            mismatched.append(f"{it.path} (sound {audio_s:.2f} s, video {video_s:.2f} s)")
        pairs.append(RawPair(str(it.path), Clip(samples, rate), frame, it.label, it.split))
    if bad:
        msg = f"{root}: {describe_bad(bad, what='unreadable clip')} (of {len(items)} clips)"
        if cfg.strict:
            raise DataError(f"{msg} (strict mode; leave strict off to skip them)")
        log.warning("%s", msg)
    if mismatched:
        log.info("%s: %d clip(s) whose sound track and video differ in length (kept: the middle frame with the centred %g s of "
                 "sound): %s%s", root, len(mismatched), cfg.duration, "; ".join(mismatched[:3]), " ..." if len(mismatched) > 3 else "")
    return pairs, sorted({it.label for it in items}, key=_natural), bad, [m.split(" (sound ")[0] for m in mismatched]


#: sample rates a container's audio stream is assumed to be stored at (decord reports samples and duration, not the rate)
STANDARD_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)


#: the rate a track is decoded at a second time to measure its own rate (see :func:`_stream_rate`)
PROBE_RATE = 48000


def _stream_rate(decord: Any, path: str, num_samples: int) -> int:
    """The sample rate of ``path``'s audio stream, which held ``num_samples`` samples per channel at that rate.

    decord's ``AudioReader(sample_rate=-1)`` keeps the stream's rate without reporting it, and its ``duration()`` is
    truncated to whole seconds (0 for a clip under a second, 1 for 1.9 s), so samples / duration is no measure of it.
    The track is decoded again resampled to :data:`PROBE_RATE` Hz: rate = samples x PROBE_RATE / resampled samples,
    the nearest standard rate when within 0.5 % of one."""
    probe = decord.AudioReader(path, sample_rate=PROBE_RATE, mono=True)
    resampled = int(probe.shape[-1])
    if resampled <= 0:
        raise DataError(f"{path}: the audio track resampled to {PROBE_RATE} Hz holds no samples")
    return _native_rate(num_samples, resampled / PROBE_RATE)


def _native_rate(num_samples: int, duration: float) -> int:
    """The rate of a track holding ``num_samples`` samples over ``duration`` seconds: the nearest standard rate when
    within 0.5 % of one, else the estimate rounded to a whole Hz."""
    est = num_samples / max(duration, 1e-9)
    nearest = min(STANDARD_RATES, key=lambda r: abs(r - est))
    return nearest if abs(nearest - est) <= 0.005 * nearest else int(round(est))


__all__ = ["BUILT_IN", "RawPair", "featurise", "load_pairs", "read_csv_pairs", "read_video_pairs", "register_tensors"]
