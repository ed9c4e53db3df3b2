"""Audio classification sets as FD-MFCC maps in memory.

Sources (one small finder function each, all returning a list of :class:`AudioItem`):

* ``tones`` -- generated in code (no files, no download): five classes of synthetic sounds (steady tone,
  rising and falling chirps, warble, two-tone chord) with random pitch, onset, length, level and noise;
  the embedded default for examples.
* ``fsdd`` -- the Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` files in ``root``,
  ``root/recordings``, or the upstream ``recordings.tar`` (``root`` may be the tar itself or hold it).
  Takes 0-4 of every speaker and digit are the test split (upstream convention). ``download=True`` fetches
  the upstream repository archive when online.
* ``folder`` -- a tree ``root/<class>/**/<audio file>`` (or ``root/train/...`` with ``root/test`` or
  ``root/val``), or a CSV file ``path,label[,split]`` (paths relative to the CSV's folder; an optional
  header row; ``split`` is ``train`` or ``test``).
* ``speechcommands``, ``gtzan`` -- torchaudio's dataset classes over a local root (their file lists and
  official splits; ``download=True`` lets torchaudio fetch them). torchaudio 2.9+ decodes only through
  torchcodec, so the files are decoded here with soundfile.

Without a given split, ``test_fraction`` of every class's readable clips is held out, drawn with ``split_seed`` (a
recipe's key of that name: the same split for every distillation seed). Every clip is
resampled to one rate, padded or cropped to one length, and turned into an FD-MFCC map (batched, ``batch_files``
clips at a time, so memory holds features, not waveforms). Unreadable or empty files are skipped, and files under a
folder root that are not audio files of the layout ignored, both named in a warning (``strict=True`` makes them an
error; hidden files and folders are named too, reason ``hidden``, never an error); a class with training clips but
no test clip is named in a warning (fact ``classes_without_test``); clips resampled (per source rate), downmixed
(multi-channel files averaged to mono, per channel count), padded and cropped are counted in the log. All of it is the set's
``report`` (the manifest's ``load_report``). A CSV whose first row is neither a ``path,label[,split]`` header nor a
row of an audio file, that lists a file that does not exist, a folder or a file twice, is refused naming the rows
(lines); one whose split column names no ``test`` row is refused naming the column; columns after ``split`` are
named in one log line. A folder's default duration is its longest readable clip, logged with its file (a warning when
it is more than ten times the median clip). A clip whose header declares less than 100 Hz (``MIN_SAMPLE_RATE``: a
damaged or forged header, whose few frames would be minutes; refused by ``decode(min_rate=)``) and an FSDD file or tar
member larger than 50 MiB (``MAX_FSDD_BYTES``: never read) are unreadable, skipped and named; an FSDD tar holding one clip name twice is refused
naming the members. Before decoding, the memory the clips' waveforms and maps take (clips x duration x rate) is compared
with the host's available memory (``check_memory``), and a set too large is refused naming the duration and the file that
set it. A PCM file (WAV, AIFF ...) at the set's rate and longer than the clip length is read only for the samples kept
(:class:`~.decode.Crop`: the same samples as the whole file cropped; only they are checked for non-finite values); a file
to be resampled is read whole.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from mmdistill.data import held_out_flags
from mmdistill.errors import ConfigError, DataError
from mmdistill.io import decode_utf8
from mmdistill.load_report import LoadReport
from mmdistill.logs import progress_bar

from ..artifacts import HIDDEN, classes_without_test, refuse_shared_files, scan_files
from .decode import (ALIGNMENTS, AUDIO_EXTENSIONS, BadFile, Clip, Crop, decode, decode_all, describe_bad, downmix_counts, fit_clip, length_counts,
                     resample_clips)
from ..groups import group_no_test_reason, group_test_flags, no_group_column, refuse_groups_in_both, rows_without_group, some
from .features import FDMFCC, NORMALIZATIONS, FDMFCCParams, extract_fdmfcc, feature_stats, normalize

log = logging.getLogger(__name__)
#: the load report's kinds (:class:`mmdistill.load_report.LoadReport`) and what each says
REPORT_KINDS = {"unreadable": "unreadable or empty audio file(s) skipped",
                "ignored": "file(s) under the data root not used (not audio files of the layout)",
                "resampled": "clip(s) resampled", "downmixed": "multi-channel clip(s) averaged to mono",
                "padded": "clip(s) padded with silence", "cropped": "clip(s) cropped",
                "silent": "all-zero clip(s) (digital silence) kept and trained on"}

#: the lowest sample rate (Hz) a clip is read at: a file whose header declares less is skipped as unreadable (a damaged or
#: forged header: 1 Hz made a 3 KB file 1600 s long); low-rate recordings (ECG, EEG at 250-500 Hz) are read and resampled
MIN_SAMPLE_RATE = 100
#: the largest FSDD clip read (bytes): the upstream clips are under 40 KB; a larger member or file (a sparse tar member of
#: gigabytes) is skipped as unreadable before it is read
MAX_FSDD_BYTES = 50 * 2**20
#: float32 copies of a chunk's waveforms alive at once while it becomes maps (decoded, resampled, stacked, pre-emphasised)
_WAVE_COPIES = 4
#: float32 copies of the maps alive at once (the chunks' maps and their concatenation; then the maps, their training split
#: and its float64 copy for the statistics; then the maps and their normalised copy)
_MAP_COPIES = 4
#: a longest clip this many times the median clip length sets every clip's length: named in a warning
_OUTLIER_RATIO = 10.0

DATASETS = ("tones", "fsdd", "folder", "speechcommands", "gtzan")
ALIASES = {"free-spoken-digit": "fsdd", "free_spoken_digit": "fsdd", "audiofolder": "folder", "audio-folder": "folder",
           "csv": "folder", "speech-commands": "speechcommands", "speech_commands": "speechcommands"}
#: (sample rate in Hz, clip length in seconds) a dataset is read at unless the config says otherwise;
#: None: the longest clip of the set
NATIVE: dict[str, tuple[int, float | None]] = {
    "tones": (8000, 0.5), "fsdd": (8000, 1.0), "folder": (16000, None), "speechcommands": (16000, 1.0), "gtzan": (22050, 30.0),
}
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")
LAYOUTS = {
    "fsdd": "ROOT/recordings.tar, ROOT/recordings/{digit}_{speaker}_{index}.wav or ROOT/{digit}_{speaker}_{index}.wav",
    "folder": "ROOT/<class>/<audio files> (or ROOT/train/<class>/..., ROOT/test/<class>/...) or a CSV file path,label[,split]",
    "speechcommands": "ROOT/SpeechCommands/speech_commands_v0.02/<word>/<file>.wav",
    "gtzan": "ROOT/genres/<genre>/<genre>.<5 digits>.wav",
}
TONE_CLASSES = ("steady", "rising", "falling", "warble", "chord")


@dataclass
class AudioItem:
    """One clip to load: a name for messages, how to get its bytes or path, its class, its split."""

    name: str
    open: Callable[[], "bytes | str"]
    label: str
    split: str  # "train" or "test"
    group: str | None = None  # the CSV's group_by value (a speaker): a drawn split keeps a group on one side


@dataclass
class AudioDataset:
    """An audio classification set as normalised FD-MFCC maps.

    ``x_train`` (N, 3, n_mfcc, frames) and ``x_test`` (M, 3, n_mfcc, frames) are float32, normalised with
    ``mean``/``std`` (FD-MFCC units, from the training split; C values, or C x n_mfcc per coefficient); ``y_*`` are int64 indices into
    ``classes``. Clips were resampled to ``params.sample_rate`` and padded/cropped to ``num_samples``.
    ``skipped`` lists the files that could not be read; ``report`` (:class:`mmdistill.load_report.LoadReport`) is
    what the loader did not take as it was: unreadable and ignored files (named), clips resampled, downmixed (multi-channel
    files averaged to mono), padded and cropped (counts; the source rates in the fact ``resampled_from_hz``), with the facts ``clips``,
    ``sample_rate``, ``duration_s`` and ``align``; for data read from files (its ``root`` is set; not the generated
    ``tones``) the adapter stores it in the set's metadata and so in the run's manifest.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: list[str]
    mean: list
    std: list
    params: FDMFCCParams
    num_samples: int
    skipped: list[BadFile] = field(default_factory=list)
    report: LoadReport = field(default_factory=LoadReport)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def list_audio_datasets() -> list[str]:
    """The canonical names of the audio datasets the loader knows (:data:`DATASETS`, in order)."""
    return list(DATASETS)


def canonical_name(name: str) -> str:
    """The canonical dataset name of ``name`` (stripped, lower-cased, an alias resolved). ConfigError for an
    unknown name."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in DATASETS:
        raise ConfigError(f"unknown audio dataset {name!r}; choose from {', '.join(DATASETS)}")
    return key


def load_audio_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    params: FDMFCCParams | None = None,
    sample_rate: int | None = None,
    duration: float | None = None,
    align: str = "center",
    normalization: str = "channel",
    strict: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    split_seed: int | None = None,
    group_by: str | None = None,
    download: bool = False,
    batch_files: int = 512,
    progress: bool = False,
    check_memory: bool = True,
) -> AudioDataset:
    """Load ``name`` (see :func:`list_audio_datasets`) as normalised FD-MFCC maps.

    Args:
        name: dataset name (``tones``, ``fsdd``, ``folder``, ``speechcommands``, ``gtzan``) or an alias.
        root: local directory (for ``folder`` also a CSV file, for ``fsdd`` also ``recordings.tar``);
            not used by ``tones``.
        params: FD-MFCC parameters; their ``sample_rate`` is replaced by ``sample_rate``.
        sample_rate: Hz every clip is resampled to; None: the dataset's own rate (8 kHz for FSDD and tones,
            16 kHz for Speech Commands and folders, 22.05 kHz for GTZAN).
        duration: seconds every clip is padded or cropped to; None: the dataset's usual length (1 s for
            FSDD and Speech Commands, 30 s for GTZAN, 0.5 s for tones) or, for a folder, its longest readable clip
            (logged with the file that set it).
        align: ``"center"`` pads/crops both ends equally, ``"start"`` keeps the beginning.
        normalization: ``"channel"`` (one mean/std per FD-MFCC channel) or ``"coefficient"`` (per channel
            and cepstral coefficient, global CMVN), from the training split.
        strict: fail on the first unreadable or empty file instead of skipping it.
        test_fraction, seed: held-out fraction per class (seeded) where the source has no split; ``seed`` also
            generates ``tones``.
        split_seed: seed of that held-out split; None: ``seed`` (a recipe passes its ``split_seed``: the split is the
            data's, the same for every distillation seed).
        group_by: a column of a folder CSV's header row (a speaker) whose groups are never split: the drawn split
            holds out ``test_fraction`` of the groups with all their clips, and a given split column that puts a
            group on both sides is refused. The held-out groups are logged and stored in the load report.
        download: let the source fetch its files into ``root`` (needs a network).
        batch_files: clips decoded and transformed at a time.
        check_memory: refuse, before decoding, a set whose waveforms and FD-MFCC maps cannot fit in the host's available
            memory (:func:`audio_memory_bytes`), naming the duration and where it came from (the file that set a
            folder's duration); a recipe's ``memory_check=false`` turns it off.

    Raises:
        DataError: missing, empty or inconsistent data (naming the file, folder or class).
        ConfigError: an argument out of range.
    """
    key = canonical_name(name)
    if not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if int(batch_files) < 1:
        raise ConfigError(f"batch_files must be >= 1, got {batch_files!r}")
    if align not in ALIGNMENTS:
        raise ConfigError(f"align must be one of {ALIGNMENTS}, got {align!r}")
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"normalize must be one of {NORMALIZATIONS}, got {normalization!r}")
    native_rate, native_duration = NATIVE[key]
    rate = native_rate if sample_rate is None else int(sample_rate)
    params = dataclasses.replace(params or FDMFCCParams(), sample_rate=rate)
    found = _find(key, root, download=download, strict=strict, seed=seed, group_by=group_by)
    classes = found.classes
    items = found.items
    if found.needs_split:  # held out after decoding, from the readable clips; class-major order as _held_out's
        order = {c: i for i, c in enumerate(classes)}
        items = sorted(items, key=lambda it: order[it.label])
    given = duration is not None
    longest: str | None = None  # the clip that set a folder's duration
    if duration is None:
        if native_duration is not None:
            duration = native_duration
        else:
            duration, longest, unreadable = _longest_seconds(items, strict)
            # the longer files passed over, unreadable when decoded whole, stay skipped with their reasons (read in part
            # for the shorter clip, a NaN or bad frame past the samples kept would go unseen)
            items = [dataclasses.replace(it, open=_raise(DataError(unreadable[it.name]))) if it.name in unreadable else it for it in items]
    if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise ConfigError(f"duration must be a finite number of seconds > 0, got {duration!r}")
    num_samples = max(int(round(duration * rate)), params.win_length)
    where = f"dataset {key!r}" + (f" at {root}" if key != "tones" else "")
    why = (f"duration={duration!r} s (--duration)" if given else
           f"the duration {duration:.4g} s set by its longest readable clip, {longest}" if longest is not None else
           f"the dataset's clip length of {duration:.4g} s")
    if check_memory:
        _check_memory(where, len(items), num_samples, params, int(batch_files), why, given, longest is not None)
    try:
        x, y, split, skipped, counts = _featurize(items, classes, params, num_samples, align, strict, batch_files, progress, key)
    except MemoryError:
        raise _out_of_memory(where, len(items), num_samples, rate, why, "MemoryError") from None
    except RuntimeError as exc:  # torch's allocator: "DefaultCPUAllocator: can't allocate memory" (memory_check=false)
        if "alloc" not in str(exc).lower():
            raise
        raise _out_of_memory(where, len(items), num_samples, rate, why, " ".join(str(exc).split())[:160]) from None
    held: list[str] | None = None
    if found.needs_split and found.group_by:  # whole groups of the readable clips (names are unique: the CSV refuses twins)
        unread = {b.name for b in skipped}
        read = [it for it in items if it.name not in unread]
        flags, held = group_test_flags([str(it.group) for it in read], test_fraction, seed if split_seed is None else split_seed,
                                       column=found.group_by, where=f"CSV file {root}", labels=[it.label for it in read])
        split = torch.tensor([1 if t else 0 for t in flags])
    elif found.needs_split:
        x, y, split = _split_readable(x, y, classes, test_fraction, seed if split_seed is None else split_seed)
    train, test = split == 0, split == 1
    report = _report(found, skipped, counts, root if key != "tones" else None, num_samples / rate, rate, align)  # tones: no files, no root
    if found.group_by:
        report.facts.update({"group_by": found.group_by, "test_groups": held})
    if not train.any():
        raise DataError(f"dataset {key!r} at {root}: no readable training clips")
    if not test.any():
        raise DataError(f"dataset {key!r} at {root}: no readable test clips")
    classes_without_test(key, classes, y[train], y[test], group_no_test_reason(found.group_by) if found.needs_split and found.group_by
                         else "a class needs at least two readable clips to hold one out" if found.needs_split
                         else "the test split has no folder or row for them, or their test clips were unreadable", report)
    mean, std = feature_stats(x[train], normalization)
    x = normalize(x, mean, std)
    return AudioDataset(key, x[train], y[train], x[test], y[test], classes, mean, std, params, num_samples, skipped, report)


def _split_readable(x: Tensor, y: Tensor, classes: list[str], test_fraction: float, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """The held-out split of the readable clips (x, y in class-major order): :func:`_held_out`'s draw over the
    clips that were read, so an unreadable file never leaves a class without its test clips."""
    is_test = held_out_flags([classes[int(c)] for c in y], classes, test_fraction, seed)
    return x, y, torch.tensor([1 if t else 0 for t in is_test])


def audio_memory_bytes(clips: int, num_samples: int, params: FDMFCCParams, batch_files: int = 512) -> int:
    """Bytes of host memory about to be taken by ``clips`` clips of ``num_samples`` samples turned into FD-MFCC maps
    ``batch_files`` clips at a time: a chunk's float32 waveforms (decoded -- a file at the set's rate read only for its
    ``num_samples`` kept, one to be resampled whole --, resampled, stacked, pre-emphasised), its
    complex STFT and power spectrogram, and every clip's maps (3 x n_mfcc x frames, in the few copies the loader
    holds: concatenated, normalised, split)."""
    chunk = min(clips, max(1, batch_files))
    frames = params.frames(num_samples)
    waves = chunk * num_samples * 4 * _WAVE_COPIES
    spectra = chunk * frames * (params.fft_size // 2 + 1) * (8 + 4)
    maps = clips * 3 * params.n_mfcc * frames * 4 * _MAP_COPIES
    return waves + spectra + maps


_GIB = 1024.0**3
_SHORTER = "pass a shorter duration (--duration SECONDS: every clip is padded or cropped to it)"


def _check_memory(where: str, clips: int, num_samples: int, params: FDMFCCParams, batch_files: int, why: str,
                  given: bool, from_file: bool) -> None:
    """ConfigError (key ``duration``, for a ``given`` duration) or DataError, before decoding, when the clips' waveforms
    and maps (:func:`audio_memory_bytes`) cannot fit in the host's available memory; ``why`` says where the duration
    came from (``from_file``: the file that set it, which the message asks to check)."""
    from mmdistill.memory import host_shortfall

    need = audio_memory_bytes(clips, num_samples, params, batch_files)
    if available := host_shortfall(need):
        message = (f"{where}: {clips} clips of {num_samples / params.sample_rate:.4g} s at {params.sample_rate} Hz ({why}) need about "
                   f"{need / _GIB:.1f} GiB of memory as waveforms and FD-MFCC maps, more than the {available / _GIB:.1f} GiB "
                   f"available; {'check that file, or ' if from_file else ''}{_SHORTER}, or memory_check=false to try anyway")
        raise ConfigError(message, key="duration") if given else DataError(message)


def _out_of_memory(where: str, clips: int, num_samples: int, rate: int, why: str, detail: str) -> DataError:
    return DataError(f"{where}: out of memory turning {clips} clips of {num_samples / rate:.4g} s at {rate} Hz ({why}) into "
                     f"FD-MFCC maps ({detail}); {_SHORTER}")


def _report(found: "_Found", skipped: list[BadFile], counts: dict, root, seconds: float, rate: int, align: str) -> LoadReport:
    """Log what the loader did not take as it was (skipped and ignored files: warnings naming them; resampled,
    downmixed, padded and cropped clips: counts) and return it as the load report of the set."""
    if skipped:
        log.warning("%s", describe_bad(skipped))
    if found.ignored:
        log.warning("%s", describe_bad(found.ignored, what="file", verb="ignored", note=" under the data root (not audio files of the layout)"))
    for src, n in sorted(counts["resampled"].items()):
        log.info("resampled %d clip(s) from %d Hz to %d Hz", n, src, rate)
    for channels, n in sorted(counts["downmixed"].items()):
        log.info("downmixed %d clip(s) from %d channels to mono (the channels averaged)", n, channels)
    if counts["padded"]:
        log.info("padded %d clip(s) shorter than %.4g s with silence (align=%s)", counts["padded"], seconds, align)
    if counts["silent"]:
        log.warning("%s", describe_bad([BadFile(n, "every sample is 0") for n in counts["silent"]], what="all-zero clip",
                                       verb="kept", note=" (digital silence: a recording or export that wrote no sound?)"))
    if counts["cropped"]:
        log.info("cropped %d clip(s) longer than %.4g s to %.4g s (align=%s; set duration / --duration to keep more)",
                 counts["cropped"], seconds, seconds, align)
    report = LoadReport(root=str(Path(root).expanduser()) if root else "", descriptions=dict(REPORT_KINDS),
                        facts={"clips": counts["clips"], "sample_rate": rate, "duration_s": round(seconds, 6), "align": align,
                               "resampled_from_hz": {str(k): v for k, v in sorted(counts["resampled"].items())}})
    report.extend("unreadable", ((b.name, b.reason) for b in skipped))
    report.extend("ignored", ((b.name, b.reason) for b in found.ignored))
    report.extend("silent", ((name, "every sample is 0") for name in counts["silent"]))
    for kind in ("resampled", "downmixed", "padded", "cropped"):
        report.count(kind, sum(counts[kind].values()) if kind in ("resampled", "downmixed") else counts[kind])
    return report


# --------------------------------------------------------------------------- features of items
def _featurize(items: list[AudioItem], classes: list[str], params: FDMFCCParams, num_samples: int, align: str,
               strict: bool, batch_files: int, progress: bool, key: str) -> tuple[Tensor, Tensor, Tensor, list[BadFile], dict]:
    """FD-MFCC maps (K, 3, n_mfcc, frames), labels (K,), split (K,: 0 train, 1 test) of the readable items, the
    skipped ones, and counts of what was changed (``clips`` read, ``resampled`` per source rate, ``downmixed`` per source
    channel count, ``padded``, ``cropped`` (by the whole file's length), ``silent``: the names of clips whose every kept
    sample is 0, as the set holds them). Files are decoded with :data:`MIN_SAMPLE_RATE` as their floor and read in part for the clip kept."""
    index = {c: i for i, c in enumerate(classes)}
    transform = FDMFCC(params)
    maps, labels, splits, skipped = [], [], [], []
    counts: dict = {"clips": 0, "resampled": {}, "downmixed": {}, "padded": 0, "cropped": 0, "silent": []}
    chunks = range(0, len(items), batch_files)
    crop = Crop(num_samples, params.sample_rate, align)  # a file longer than the clip is read only for the samples kept
    for start in progress_bar(iterable=chunks, desc=f"FD-MFCC {key}", disable=not progress or len(chunks) < 4, leave=False):
        chunk = items[start : start + batch_files]
        clips, fitted, bad = decode_fitted([(it.name, it.open) for it in chunk], crop, strict)
        skipped += bad
        kept = [(it, c) for it, c in zip(chunk, clips) if c is not None]
        if not kept:
            continue
        for _, c in kept:
            if c.sample_rate != params.sample_rate:
                counts["resampled"][c.sample_rate] = counts["resampled"].get(c.sample_rate, 0) + 1
        for channels, n in downmix_counts(c for _, c in kept).items():
            counts["downmixed"][channels] = counts["downmixed"].get(channels, 0) + n
        padded, cropped = length_counts((n for _, n in fitted), num_samples)
        counts["clips"] += len(kept)
        counts["padded"] += padded
        counts["cropped"] += cropped
        counts["silent"] += [it.name for (it, _), (w, _) in zip(kept, fitted) if not bool(w.any())]  # what the set holds of it
        waves = torch.stack([w for w, _ in fitted])
        maps.append(extract_fdmfcc(waves, params, batch_size=batch_files, transform=transform))
        labels += [index[it.label] for it, _ in kept]
        splits += [0 if it.split == "train" else 1 for it, _ in kept]
    if not maps:
        raise DataError(f"dataset {key!r}: none of its {len(items)} audio files could be read; first: {skipped[0].name} ({skipped[0].reason})")
    return torch.cat(maps), torch.tensor(labels, dtype=torch.long), torch.tensor(splits), skipped, counts


def decode_fitted(files: list[tuple[str, Callable]], crop: Crop, strict: bool
                  ) -> tuple[list[Clip | None], list[tuple[Tensor, int]], list[BadFile]]:
    """``files`` (``(name, opener)``) decoded as the loader reads a clip: :func:`~.decode.decode_all` with
    :data:`MIN_SAMPLE_RATE` as the floor, reading only the samples ``crop`` keeps (its length, rate and alignment),
    resampled to ``crop.sample_rate`` Hz and padded or cropped to ``crop.num_samples`` (:func:`~.decode.fit_clip`). Returns each
    file's clip (None: not read), the fitted ``(wave (T,), the file's length in samples)`` of the read ones, in order,
    and the files not read (with ``strict`` the first raises)."""
    clips, bad = decode_all(files, strict=strict, min_rate=MIN_SAMPLE_RATE, crop=crop)
    kept = [c for c in clips if c is not None]
    rate = crop.sample_rate
    fitted = [fit_clip(w, c, rate, crop.num_samples, crop.align) for w, c in zip(resample_clips(kept, rate), kept)]
    return clips, fitted, bad


def _header_seconds(item: AudioItem) -> float | None:
    """The length of ``item`` in seconds from its file header, or by decoding it when soundfile cannot describe it
    (:func:`_decoded_seconds`); None when its rate is below :data:`MIN_SAMPLE_RATE` or it cannot be decoded (judged
    when the set is decoded)."""
    import soundfile as sf

    source = item.open()
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        info = sf.info(source)
    except Exception:  # noqa: BLE001 - not a libsndfile format (M4A, AAC): measured by decoding it
        return _decoded_seconds(item)
    return info.frames / info.samplerate if info.samplerate >= MIN_SAMPLE_RATE else None


def _decoded_seconds(item: AudioItem) -> float | None:
    """The length in seconds of a clip whose header soundfile cannot read (a format decoded through audioread, such as
    M4A), by decoding it; None when it cannot be decoded (it is skipped and named when the set is decoded)."""
    try:
        clip = decode(item.name, item.open(), min_rate=MIN_SAMPLE_RATE)
    except (DataError, OSError):
        return None
    return len(clip.samples) / clip.sample_rate


def _longest_seconds(items: list[AudioItem], strict: bool = False) -> tuple[float, str, dict[str, str]]:
    """The length in seconds (from its file header) of the longest clip that decodes, and that clip's name: the headers
    are read, and the clips are tried longest first until one decodes, so a file skipped later as unreadable (a NaN
    sample, a corrupt body behind a good header, a sample rate below :data:`MIN_SAMPLE_RATE`) never sets every clip's
    length. Logs the clip that set it and the longer ones passed over; a warning when it is more than
    :data:`_OUTLIER_RATIO` times the median clip (every clip is padded to it). In ``strict`` mode an unreadable file
    tried here is the error it is when decoded. Returns (seconds, the clip's name, {name: reason} of the longer clips passed
    over as unreadable)."""
    lengths = [(s, n, it) for n, it in enumerate(items) if (s := _header_seconds(it)) is not None and s > 0]
    passed: list[tuple[str, float]] = []
    unreadable: dict[str, str] = {}
    for seconds, _, it in sorted(lengths, key=lambda t: (-t[0], t[1])):  # longest first, ties in item order
        clips, bad = decode_all([(it.name, it.open)], strict=strict, min_rate=MIN_SAMPLE_RATE)
        if clips[0] is None:
            unreadable[it.name] = bad[0].reason
            passed.append((it.name, seconds))
            continue
        over = "; ".join(f"{name} ({s:.4g} s)" for name, s in passed[:3]) + (f" and {len(passed) - 3} more" if len(passed) > 3 else "")
        log.info("duration %.4g s: the longest readable clip, %s%s; pass duration= (--duration) to choose another", seconds, it.name,
                 f" (longer but unreadable, skipped: {over})" if passed else "")
        median = float(np.median([s for s, _, _ in lengths]))
        if len(lengths) >= 3 and seconds > _OUTLIER_RATIO * median:
            log.warning("duration %.4g s, set by the longest readable clip %s, is %.0f times the median clip's %.4g s: every "
                        "clip is padded to it (memory and time grow with it); pass duration= (--duration) to choose another",
                        seconds, it.name, seconds / median, median)
        return seconds, it.name, unreadable
    raise DataError("could not read the length of any readable clip to choose a duration; pass duration=SECONDS (--duration)")


@dataclass
class _Found:
    """What a source holds before decoding: items (split ``train`` placeholders when ``needs_split``), class names,
    files under the root that are not used (``ignored``), and whether the held-out split is still to be drawn."""

    items: list[AudioItem]
    classes: list[str]
    ignored: list[BadFile] = field(default_factory=list)
    needs_split: bool = False
    group_by: str | None = None  # the CSV column whose groups the drawn split keeps together (items' ``group``)


def find_audio_items(name: str, root: str | Path | None, *, download: bool = False, test_fraction: float = 0.2, seed: int = 0,
                     strict: bool = False, split_seed: int | None = None, group_by: str | None = None) -> tuple[list[AudioItem], list[str]]:
    """The clips dataset ``name`` holds under ``root`` (nothing decoded yet) and its class names; a source without
    a split gets ``test_fraction`` of every class held out, drawn with ``split_seed`` (None: ``seed``); with
    ``group_by`` (a folder CSV's column) ``test_fraction`` of its groups, with all their clips."""
    found = _find(canonical_name(name), root, download=download, strict=strict, seed=seed, group_by=group_by)
    if found.needs_split and found.group_by:
        flags, _ = group_test_flags([str(it.group) for it in found.items], test_fraction, seed if split_seed is None else split_seed,
                                    column=found.group_by, where=f"CSV file {root}")
        return [dataclasses.replace(it, split="test" if t else "train") for it, t in zip(found.items, flags)], found.classes
    if found.needs_split:
        return _held_out(found.items, found.classes, test_fraction, seed if split_seed is None else split_seed), found.classes
    return found.items, found.classes


def _find(key: str, root: str | Path | None, *, download: bool, strict: bool, seed: int = 0, group_by: str | None = None) -> _Found:
    if group_by and (key != "folder" or not Path(str(root)).expanduser().is_file()):
        raise DataError(f"group_by={group_by!r} (--group-by) names a column of a CSV file, and dataset {key!r} at {root} is "
                        f"{'a folder tree' if key == 'folder' else 'not a CSV'}: list the clips as a CSV path,label,{group_by} "
                        "(dataset folder, data_root the CSV) to hold out whole groups")
    if key == "tones":
        return _Found(*_tones(seed))
    path = _need_root(root, key, download)
    if key == "fsdd":
        return _Found(*_fsdd(path, download, strict))
    if key == "folder":
        found = _folder(path, group_by)
        if strict:  # hidden entries are listed, never an error (LoadReport.strict_error, as every loader)
            stray = LoadReport(root=str(path), entries={"ignored": [(b.name, b.reason) for b in found.ignored]})
            if (err := stray.strict_error(["ignored"], flag="strict mode", noun="file(s)", would="are not audio files of the layout",
                                          without="they are ignored, named and logged")) is not None:
                raise err
        return found
    if key == "speechcommands":
        return _Found(*_speechcommands(path, download))
    return _Found(*_gtzan(path, download))


def _need_root(root: str | Path | None, key: str, download: bool) -> Path:
    if root is None or str(root) == "":
        raise DataError(f"dataset {key!r} needs a local root: pass data_root (--data-root PATH); expected {LAYOUTS[key]}")
    path = Path(root).expanduser()
    if not path.exists():
        if download and key != "folder":
            path.mkdir(parents=True, exist_ok=True)
            return path
        hint = "; pass download=True (--download) when online" if key != "folder" else ""
        raise DataError(f"data root {path} does not exist (dataset {key!r}, expected {LAYOUTS[key]}){hint}")
    return path


def _held_out(items: list[AudioItem], classes: list[str], test_fraction: float, seed: int) -> list[AudioItem]:
    """Mark a seeded ``test_fraction`` of every class (at least one clip of a class with two or more) as
    test, the rest as train (class-major order)."""
    members = [it for c in classes for it in items if it.label == c]
    flags = held_out_flags([it.label for it in members], classes, test_fraction, seed)
    return [AudioItem(it.name, it.open, it.label, "test" if t else "train") for it, t in zip(members, flags)]


def _path_opener(path: Path) -> Callable[[], str]:
    return lambda: str(path)


def _bytes_opener(data: bytes) -> Callable[[], bytes]:
    return lambda: data


# --------------------------------------------------------------------------- tones (generated)
def tone_clip(kind: str, rng: np.random.Generator, sample_rate: int = 8000, duration: float = 0.5) -> np.ndarray:
    """One synthetic clip of class ``kind`` (one of :data:`TONE_CLASSES`): float32 samples, ``duration``
    seconds at ``sample_rate``, with random pitch (about 250-900 Hz), onset, length (40-90 % of the clip),
    level and background noise drawn from ``rng``."""
    if kind not in TONE_CLASSES:
        raise ConfigError(f"unknown tone class {kind!r}; choose from {TONE_CLASSES}")
    n = int(round(sample_rate * duration))
    length = int(n * rng.uniform(0.4, 0.9))
    onset = int(rng.integers(0, n - length + 1))
    t = np.arange(length) / sample_rate
    f0 = rng.uniform(250.0, 600.0)
    if kind == "steady":
        freq = np.full(length, f0)
    elif kind == "rising":
        freq = f0 * np.exp(np.log(rng.uniform(1.6, 2.4)) * t / t[-1])
    elif kind == "falling":
        freq = f0 * 1.5 * np.exp(-np.log(rng.uniform(1.6, 2.4)) * t / t[-1])
    elif kind == "warble":
        freq = f0 * (1.0 + 0.12 * np.sin(2 * np.pi * rng.uniform(6.0, 12.0) * t))
    else:  # chord: a fifth above the root as well
        freq = np.full(length, f0)
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    tone = np.sin(phase) + (0.8 * np.sin(1.5 * phase) if kind == "chord" else 0.0)
    envelope = np.minimum(1.0, np.minimum(np.arange(length), np.arange(length)[::-1]) / (0.01 * sample_rate))
    out = rng.normal(0.0, rng.uniform(0.005, 0.03), n)
    out[onset : onset + length] += rng.uniform(0.2, 0.6) * envelope * tone / (1.8 if kind == "chord" else 1.0)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _tones(seed: int, per_class: int = 40, sample_rate: int = 8000, duration: float = 0.5) -> tuple[list[AudioItem], list[str]]:
    """``per_class`` generated clips of each tone class; the last quarter of each class is the test split."""
    items: list[AudioItem] = []
    for c, kind in enumerate(TONE_CLASSES):
        rng = np.random.default_rng([seed, c])
        for i in range(per_class):
            wav = _wav_bytes(tone_clip(kind, rng, sample_rate, duration), sample_rate)
            items.append(AudioItem(f"tones/{kind}/{i}", _bytes_opener(wav), kind, "test" if i >= per_class * 3 // 4 else "train"))
    return items, list(TONE_CLASSES)


def _wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


# --------------------------------------------------------------------------- FSDD
def _fsdd(root: Path, download: bool, strict: bool) -> tuple[list[AudioItem], list[str]]:
    """FSDD items from a directory of WAVs, ``root/recordings``, or ``recordings.tar`` (``root`` or inside it)."""
    tar = root if root.is_file() else root / "recordings.tar"
    if tar.is_file():
        named = _fsdd_tar(tar)
    else:
        folder = root / "recordings" if (root / "recordings").is_dir() else root
        named = [(p.name, str(p), _fsdd_file_opener(p)) for p in sorted(folder.glob("*.wav"))]
        if not named and download:
            _download_fsdd(root)
            return _fsdd(root, False, strict)
        if not named:
            raise DataError(f"no FSDD recordings under {root}: expected {LAYOUTS['fsdd']}; pass download=True (--download) when online")
    items: list[AudioItem] = []
    for base, name, opener in named:
        m = FSDD_NAME.match(base)
        if m is None:
            msg = f"{name} is not named {{digit}}_{{speaker}}_{{index}}.wav"
            if strict:
                raise DataError(f"{msg} (strict mode)")
            items.append(AudioItem(name, _raise(DataError(msg)), "0", "train"))  # reported as skipped
            continue
        items.append(AudioItem(name, opener, m.group(1), "test" if int(m.group(3)) <= 4 else "train"))
    return items, [str(d) for d in range(10)]


def _raise(exc: Exception) -> Callable[[], bytes]:
    def opener() -> bytes:
        raise exc

    return opener


def _too_large(name: str, size: int) -> DataError:
    """The reason an FSDD clip of ``size`` bytes (above :data:`MAX_FSDD_BYTES`) is not read."""
    return DataError(f"audio file {name} is {size / 2**20:.1f} MiB; an FSDD clip is a few KB (at most {MAX_FSDD_BYTES // 2**20} MiB "
                     "is read): not read (a damaged or forged file?)")


def _fsdd_file_opener(path: Path) -> Callable[[], "bytes | str"]:
    """The opener of an FSDD file: its path, or a DataError (the file is skipped as unreadable) when it is larger than
    :data:`MAX_FSDD_BYTES` (a sparse file of gigabytes would be decoded whole)."""
    try:
        size = path.stat().st_size
    except OSError:
        return _path_opener(path)  # a broken link: named when decoded
    return _path_opener(path) if size <= MAX_FSDD_BYTES else _raise(_too_large(str(path), size))


def _fsdd_tar(tar: Path) -> list[tuple[str, str, Callable[[], bytes]]]:
    """(file name, display name, opener) of every ``.wav`` member of the upstream ``recordings.tar``. A member larger
    than :data:`MAX_FSDD_BYTES` is not read (its opener raises: skipped as unreadable, named); two members of one file
    name (in two folders, or the same name stored twice) are a DataError naming them, as one clip read twice could land
    in train and test."""
    out = []
    try:
        with tarfile.open(tar) as tf:
            for member in tf:
                if member.isfile() and member.name.lower().endswith(".wav"):
                    name = f"{tar}:{member.name}"
                    if member.size > MAX_FSDD_BYTES:
                        out.append((Path(member.name).name, name, _raise(_too_large(name, member.size))))
                        continue
                    fh = tf.extractfile(member)
                    out.append((Path(member.name).name, name, _bytes_opener(fh.read() if fh else b"")))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {tar} (not a tar archive, or truncated): {exc}") from None
    if not out:
        raise DataError(f"{tar} holds no .wav files; expected the FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav)")
    members: dict[str, list[str]] = {}
    for base, name, _ in out:
        members.setdefault(base, []).append(name.removeprefix(f"{tar}:"))
    twice = {base: names for base, names in members.items() if len(names) > 1}
    if twice:
        shown = "; ".join(f"{base} ({', '.join(names)})" for base, names in sorted(twice.items())[:5])
        raise DataError(f"{tar}: {len(twice)} clip name(s) are held more than once: {shown}{' ...' if len(twice) > 5 else ''}; "
                        "an FSDD clip is one file (a copy would be read as a second clip, maybe in the other split): keep one of each")
    return sorted(out, key=lambda t: t[0])


def _download_fsdd(root: Path) -> None:
    """Fetch the upstream repository archive and unpack its ``recordings/`` into ``root/recordings``."""
    import zipfile

    from torch.hub import download_url_to_file

    archive = root / "free-spoken-digit-dataset.zip"
    try:
        download_url_to_file(FSDD_URL, str(archive), progress=True)
    except Exception as exc:  # noqa: BLE001 - URLError, HTTPError, socket errors
        raise DataError(f"could not download FSDD from {FSDD_URL} into {root}: {type(exc).__name__}: {exc}. This machine "
                        f"may be offline; put the files there instead as {LAYOUTS['fsdd']}") from None
    out = root / "recordings"
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = Path(info.filename).parts
            if len(parts) >= 3 and parts[-2] == "recordings" and parts[-1].endswith(".wav"):
                (out / parts[-1]).write_bytes(zf.read(info))
    archive.unlink()


# --------------------------------------------------------------------------- folder trees and CSV files
# a hidden entry (``.DS_Store``, ``.git/``, ``._x.wav``...) is listed under ``ignored`` with the reason HIDDEN; as the
# image loader, it is named in the warning and the report but never an error under ``strict`` (tools write these files)


def _audio_files(folder: Path, ignored: list[BadFile] | None = None) -> list[Path]:
    """The audio files under ``folder`` (any depth), sorted. Every other entry (hidden files and folders, not
    descended, files of other types, links to folders, broken links) is appended to ``ignored`` with its reason,
    as the image loader does (:func:`modalities.artifacts.scan_files`)."""
    files, skipped = scan_files(folder, AUDIO_EXTENSIONS, f"not an audio file ({', '.join(AUDIO_EXTENSIONS)})")
    if ignored is not None:
        ignored += [BadFile(str(p), reason) for p, reason in skipped]
    return files


def _hidden(folder: Path, ignored: list[BadFile], skip: tuple[Path, ...] = ()) -> None:
    """Append the hidden entries directly in ``folder`` (but ``skip``) to ``ignored``."""
    ignored += [BadFile(str(p), HIDDEN) for p in sorted(folder.iterdir()) if p.name.startswith(".") and p not in skip]


def _scan(root: Path, split: str, ignored: list[BadFile]) -> tuple[list[AudioItem], list[str]]:
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"data root {root} holds no class folders: expected one sub-folder of audio files per class ({root}/<class>/<file>)")
    _hidden(root, ignored)
    ignored += [BadFile(str(p), "a file beside the class folders" if p.exists() else "broken link") for p in sorted(root.iterdir())
                if not p.is_dir() and not p.name.startswith(".")]
    items: list[AudioItem] = []
    for d in class_dirs:
        own: list[BadFile] = []
        files = _audio_files(d, own)
        if not files:
            seen = f"; it holds {len(own)} other entr{'y' if len(own) == 1 else 'ies'}, e.g. {Path(own[0].name).name} ({own[0].reason})" if own else ""
            raise DataError(f"class folder {d} (class {d.name!r}) holds no audio files ({', '.join(AUDIO_EXTENSIONS)}){seen}")
        ignored += own
        items += [AudioItem(str(f), _path_opener(f), d.name, split) for f in files]
    return items, [d.name for d in class_dirs]


def _folder(root: Path, group_by: str | None = None) -> _Found:
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise DataError(f"data root {root} is a file but not a .csv of path,label rows")
        return _csv(root, group_by)
    ignored: list[BadFile] = []
    train_dir = root / "train"
    test_dir = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
    if train_dir.is_dir() and test_dir is not None:
        train, classes = _scan(train_dir, "train", ignored)
        test, test_classes = _scan(test_dir, "test", ignored)
        refuse_shared_files([it.name for it in train], [it.name for it in test], "audio file")
        extra = sorted(set(test_classes) - set(classes))
        if extra:
            raise DataError(f"{test_dir} has class folders {extra} that {train_dir} lacks")
        ignored += [BadFile(str(p), f"beside {train_dir.name}/ and {test_dir.name}/" + (" (test/ is the test split)" if p.name == "val" else ""))
                    for p in sorted(root.iterdir()) if p not in (train_dir, test_dir) and not p.name.startswith(".")]
        _hidden(root, ignored)
        return _Found(train + test, classes, ignored)
    if train_dir.is_dir():
        ignored += [BadFile(str(p), "beside train/ (without a test/ or val/ folder)") for p in sorted(root.iterdir())
                    if p != train_dir and not p.name.startswith(".")]
        _hidden(root, ignored)
    items, classes = _scan(train_dir if train_dir.is_dir() else root, "train", ignored)
    return _Found(items, classes, ignored, needs_split=True)


CSV_LAYOUT = "rows path,label[,split] (an optional header row path,label[,split]; split train or test)"
#: what a CSV header may call its first column, the clip's file (a metadata sheet's ``file,label,speaker`` as well)
PATH_COLUMN_NAMES = ("path", "file", "filename")


def _csv(path: Path, group_by: str | None = None) -> _Found:
    """Rows ``path,label[,split]`` (an optional header row naming the columns); relative paths are taken
    from the CSV's folder. Without a split column the held-out split is still to be drawn. DataError naming the
    file and row (its line) for a header with other column names, a short row, an unknown split, a file that does
    not exist, a folder, or a file listed twice, and naming the file for a split column without a ``test`` row.
    Columns after the third are not read (one log line names them), but for ``group_by``: the header's column of
    that name (any column after ``label``; the split, if any, is then the column named ``split``) gives each clip
    its group, which a drawn split keeps on one side; a given split that puts a group on both sides, a row without
    a group, or a header without the column is refused naming them."""
    try:
        text = decode_utf8(path.read_bytes(), f"CSV file {path}")
        rows = [(n, r) for n, r in enumerate(csv.reader(text.splitlines()), start=1) if r and any(c.strip() for c in r)]
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read CSV file {path}: {exc}") from None
    header: list[str] = []
    if rows:
        first = [c.strip().lower() for c in rows[0][1]]
        if len(first) >= 2 and first[0] in PATH_COLUMN_NAMES and first[1] == "label":  # file,label,speaker too (walk 52E)
            if not group_by and len(first) >= 3 and first[2] not in ("", "split"):  # with group_by: columns found by name
                raise DataError(f"CSV file {path}, row {rows[0][0]}: the third column must be named split, got {rows[0][1][2]!r} "
                                f"(a column of groups such as speakers: name it with group_by={rows[0][1][2].strip()!r}, "
                                f"--group-by {rows[0][1][2].strip()})")
            header = [c.strip() for c in rows[0][1]]
            rows = rows[1:]
        elif Path(first[0]).suffix not in AUDIO_EXTENSIONS and not (path.parent / rows[0][1][0].strip()).expanduser().is_file():
            raise DataError(f"CSV file {path}, row {rows[0][0]}: {rows[0][1]} is neither the header path,label[,split] nor a row of "
                            f"an audio file; expected {CSV_LAYOUT}")
    if not rows:
        raise DataError(f"CSV file {path} holds no path,label rows; expected {CSV_LAYOUT}")
    split_col, group_col = _csv_columns(path, header, group_by)
    _note_extra_columns(path, header, [r for _, r in rows], {split_col, group_col})
    items: list[AudioItem] = []
    has_split = split_col is not None and any(len(r) > split_col and r[split_col].strip() for _, r in rows)
    no_group: list[int] = []
    missing, folders, first_row, duplicates = [], [], {}, []
    for line, row in rows:
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise DataError(f"CSV file {path}, row {line}: expected path,label[,split], got {row}")
        file = Path(row[0].strip()).expanduser()
        file = file if file.is_absolute() else path.parent / file
        split = row[split_col].strip().lower() if split_col is not None and len(row) > split_col else ""
        group = row[group_col].strip() if group_col is not None and len(row) > group_col else None
        if group_col is not None and not group:
            no_group.append(line)
        if has_split and split not in ("train", "test"):
            raise DataError(f"CSV file {path}, row {line}: split must be 'train' or 'test', got {split!r}")
        if file.is_dir():
            folders.append(f"row {line}: {row[0].strip()}")
        elif not file.is_file():
            missing.append(f"row {line}: {row[0].strip()}")
        key = str(file.resolve())
        if key in first_row:
            duplicates.append(f"{row[0].strip()} on rows {first_row[key]} and {line}")
        first_row.setdefault(key, line)
        items.append(AudioItem(str(file), _path_opener(file), row[1].strip(), split or "train", group))
    problems = []
    if missing:
        problems.append(f"{len(missing)} listed file(s) do not exist (paths are relative to the CSV's folder): "
                        + some(missing))
    if folders:
        problems.append(f"{len(folders)} listed path(s) are folders, not audio files (list a folder's clips one per "
                        f"row): {some(folders)}")
    if no_group:
        problems.append(rows_without_group(no_group, header[group_col]))  # type: ignore[index]
    if problems:
        raise DataError(f"CSV file {path}: {'; and '.join(problems)}")
    if duplicates:
        raise DataError(f"CSV file {path}: {len(duplicates)} file(s) listed more than once (a clip counts once, in one split): "
                        + some(duplicates))
    classes = sorted({it.label for it in items})
    if has_split:
        if not any(it.split == "test" for it in items):
            raise DataError(f"CSV file {path} names no test rows: its split column (column 3) is 'train' on all {len(items)} rows; "
                            "mark the rows to hold out as test, or leave the split column out (or empty on every row) to hold out "
                            "a seeded share of each class's readable clips (test_fraction, --test-fraction)")
        missing_train = sorted({it.label for it in items if it.split == "test"} - {it.label for it in items if it.split == "train"})
        if missing_train:
            raise DataError(f"CSV file {path}: classes {missing_train} have test rows but no train rows")
        if group_col is not None:
            refuse_groups_in_both(f"CSV file {path}", header[group_col], [str(it.group) for it in items], [it.split for it in items],
                                  [line for line, _ in rows])
        return _Found(items, classes)
    return _Found(items, classes, needs_split=True, group_by=header[group_col] if group_col is not None else None)


def _csv_columns(path: Path, header: list[str], group_by: str | None) -> tuple[int | None, int | None]:
    """The split and group columns (0-based; None: absent) of a folder CSV: without ``group_by`` the split is the
    third column as ever; with it, both are found by name in the header row, which it therefore needs."""
    if not group_by:
        return 2, None
    names = [c.strip().lower() for c in header]
    if not names:
        raise DataError(f"CSV file {path} has no header row, and group_by={group_by!r} names a column by its header; "
                        f"add a header row such as path,label,{group_by}")
    if group_by.strip().lower() not in names[2:]:
        raise no_group_column(f"CSV file {path}", group_by, header, after=" after path,label")
    return (names.index("split") if "split" in names else None), names.index(group_by.strip().lower(), 2)


def _note_extra_columns(path: Path, header: list[str], rows: list[list[str]], read: set[int | None] | None = None) -> None:
    """Log once the columns after ``path,label`` that the loader does not read (``read``: the split and group columns
    it does; by default the third): by their ``header`` name (and number) when the CSV has a header row, else by
    number; a column with neither a name nor a value in any row (a trailing comma) is not named."""
    read = {2} if read is None else read
    width = max([len(header)] + [len(r) for r in rows])
    extra = [j for j in range(2, width) if j not in read and ((j < len(header) and header[j]) or any(j < len(r) and r[j].strip() for r in rows))]
    if extra:
        names = [f"{header[j]!r} (column {j + 1})" if j < len(header) and header[j] else f"column {j + 1}" for j in extra]
        log.info("CSV file %s: %d column(s) not read (the loader reads path,label[,split]): %s", path, len(names), ", ".join(names))


# --------------------------------------------------------------------------- torchaudio dataset classes
def _torchaudio_dataset(key: str, root: Path, download: bool, make):
    try:
        return make("training"), make("testing")
    except Exception as exc:  # noqa: BLE001 - torchaudio raises RuntimeError, URLError, OSError
        detail = " ".join(str(exc).split())[:300]
        action = "could not download" if download else "was not found under"
        raise DataError(f"{key} {action} {root}: {detail}. Expected {LAYOUTS[key]}"
                        f"{'' if download else '; pass download=True (--download) when online'}") from None


def _speechcommands(root: Path, download: bool) -> tuple[list[AudioItem], list[str]]:
    """Speech Commands v0.02 through torchaudio's ``SPEECHCOMMANDS`` file lists (official test list; the
    validation list is left out of training as torchaudio's ``training`` subset does)."""
    from torchaudio.datasets import SPEECHCOMMANDS

    train, test = _torchaudio_dataset("speechcommands", root, download, lambda s: SPEECHCOMMANDS(str(root), download=download and s == "training", subset=s))
    items: list[AudioItem] = []
    for ds, split in ((train, "train"), (test, "test")):
        for n in range(len(ds)):
            rel, _, label, _, _ = ds.get_metadata(n)
            file = Path(ds._archive) / rel  # get_metadata gives the path relative to the archive folder
            items.append(AudioItem(str(file), _path_opener(file), label, split))
    return items, sorted({it.label for it in items if it.split == "train"})


def _gtzan(root: Path, download: bool) -> tuple[list[AudioItem], list[str]]:
    """GTZAN through torchaudio's ``GTZAN`` file lists (its fault-filtered training and testing splits)."""
    from torchaudio.datasets import GTZAN

    train, test = _torchaudio_dataset("gtzan", root, download, lambda s: GTZAN(str(root), download=download and s == "training", subset=s))
    items: list[AudioItem] = []
    for ds, split in ((train, "train"), (test, "test")):
        for fileid in ds._walker:  # "<genre>.<number>"; torchaudio has no public accessor for the path
            genre = fileid.split(".")[0]
            file = Path(ds._path) / genre / f"{fileid}.wav"
            items.append(AudioItem(str(file), _path_opener(file), genre, split))
    return items, sorted({it.label for it in items})


__all__ = [
    "AudioDataset", "AudioItem", "DATASETS", "HIDDEN", "MAX_FSDD_BYTES", "MIN_SAMPLE_RATE", "NATIVE", "TONE_CLASSES", "audio_memory_bytes",
    "canonical_name", "find_audio_items", "list_audio_datasets",
    "load_audio_dataset", "tone_clip",
]
