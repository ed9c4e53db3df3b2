"""Audio classification sets as FD-MFCC maps in memory.

Sources (one small finder function each, all returning a list of :class:`AudioItem`):

* ``tones`` -- generated in code (no files, no download): five classes of synthetic sounds (steady tone,
  rising and falling chirps, warble, two-tone chord) with random pitch, onset, length, level and noise;
  the embedded default for examples.
* ``fsdd`` -- the Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` files in ``root``,
  ``root/recordings``, or the upstream ``recordings.tar`` (``root`` may be the tar itself or hold it).
  Takes 0-4 of every speaker and digit are the test split (upstream convention; every speaker is in both splits), or
  with ``group_by='speaker'`` whole speakers. ``download=True`` fetches the upstream repository archive when online.
* ``folder`` -- a tree ``root/<class>/**/<audio file>`` (or ``root/train/...`` with ``root/test`` or
  ``root/val``), or a CSV file ``path,label[,split]`` (paths relative to the CSV's folder; an optional
  header row; ``split`` is ``train`` or ``test``).
* ``speechcommands``, ``gtzan`` -- torchaudio's dataset classes over a local root (their file lists and
  official splits; ``download=True`` lets torchaudio fetch them). torchaudio 2.9+ decodes only through
  torchcodec, so the files are decoded here with soundfile.
* ``esc50``, ``esc10``, ``urbansound8k`` -- ESC-50 (and its ESC-10 rows) and UrbanSound8K as released: the metadata
  CSV's files, classes and official folds, one fold held out (``test_fold``; default the last): :mod:`.folds`.
  ``download=True`` fetches the release's archive.
* a name given to :func:`~.registered.register_tensors` -- mono waveforms already in memory, float in [-1, 1] at the rate
  given, with their own train and test split; read at that rate and the longest waveform's length unless the config
  says otherwise.

Without a given split, ``test_fraction`` of every class's readable clips is held out, drawn with ``split_seed`` (a
recipe's key of that name: the same split for every distillation seed); with ``group_by`` (a CSV's column, or a
pattern over class folders' file names: :mod:`.groups`) ``test_fraction`` of the groups, with all their clips. Every clip is
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

This module loads a source's clips into an :class:`AudioDataset` (the duration, the memory check, the drawn split, the
statistics, the load report); the names are :mod:`.registry`'s, finding a source's clips :mod:`.find`'s (the sources:
:mod:`.tones`, :mod:`.fsdd`, :mod:`.folder`, :mod:`.torchaudio_sets`; what they return :mod:`.items`'s) and reading the
clips into maps :mod:`.clips`'s (import their names from those modules; this one keeps the public names it had before
the split, in ``__all__``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.data import held_out_flags
from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport
from mmdistill.validation import drawn_by

from ..artifacts import HIDDEN, classes_without_test
from ..groups import group_no_test_reason, tell_nested_split
from ..sources import check_test_fraction
from .clips import MIN_SAMPLE_RATE, _featurize, _longest_seconds
from .decode import ALIGNMENTS, BadFile, describe_bad
from .features import NORMALIZATIONS, FDMFCCParams, feature_stats, normalize
from .find import _find, find_audio_items, warn_unused_split_keys
from .fsdd import MAX_FSDD_BYTES
from .groups import draw_groups, said_group_by_of, split_rule, warn_recordings_in_both
from .items import AudioItem, _Found, _raise
from .registered import registered_clips
from .registry import DATASETS, NATIVE, canonical_name, list_audio_datasets
from .tones import TONE_CLASSES, tone_clip

log = logging.getLogger(__name__)
#: the load report's kinds (:class:`mmdistill.load_report.LoadReport`) and what each says
REPORT_KINDS = {"unreadable": "unreadable or empty audio file(s) skipped",
                "ignored": "file(s) under the data root not used (not audio files of the layout)",
                "resampled": "clip(s) resampled", "downmixed": "multi-channel clip(s) averaged to mono",
                "padded": "clip(s) padded with silence", "cropped": "clip(s) cropped",
                "silent": "all-zero clip(s) (digital silence) kept and trained on"}

#: float32 copies of a chunk's waveforms alive at once while it becomes maps (decoded, resampled, stacked, pre-emphasised)
_WAVE_COPIES = 4
#: float32 copies of the maps alive at once (the chunks' maps and their concatenation; then the maps, their training split
#: and its float64 copy for the statistics; then the maps and their normalised copy)
_MAP_COPIES = 4


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
    ``tones``) the adapter stores it in the set's metadata and so in the run's manifest. ``split_rule``: how a split
    drawn by ``group_by`` groups was drawn (:func:`~.groups.split_rule`; None: each class's share, or a given split),
    stored by the adapter as the data's ``meta["split_rule"]``.
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
    split_rule: str | None = None  # how a drawn split other than each class's share was drawn (group_by): the data's meta
    #: the group of each training clip (a source recording of ESC-50 / UrbanSound8K, a group_by speaker), in x_train's
    #: order, when every clip has one: a validation split holds out whole groups (ClassificationData.train_groups)
    train_groups: list[str] | None = None
    #: the keys that drew the test split (:func:`mmdistill.validation.drawn_by`: test_fraction and the seed that drew it;
    #: the generated tones: the seed that drew them), None for a given one (an official fold, FSDD's own, train/ + test/
    #: folders, a CSV split column, registered waveforms): the data's ``meta[SPLIT_DRAWN_WITH]``, folded into a validation digest
    drawn_with: dict[str, Any] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


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
    test_fold: int | None = None,
    validation: float | None = None,
    download: bool = False,
    batch_files: int = 512,
    progress: bool = False,
    check_memory: bool = True,
) -> AudioDataset:
    """Load ``name`` (see :func:`list_audio_datasets`) as normalised FD-MFCC maps.

    Args:
        name: dataset name (``tones``, ``fsdd``, ``folder``, ``speechcommands``, ``gtzan``, ``esc50``, ``esc10``,
            ``urbansound8k``) or an alias.
        root: local directory (for ``folder`` also a CSV file, for ``fsdd`` also ``recordings.tar``);
            not used by ``tones``.
        params: FD-MFCC parameters; their ``sample_rate`` is replaced by ``sample_rate``.
        sample_rate: Hz every clip is resampled to; None: the dataset's own rate (8 kHz for FSDD and tones,
            16 kHz for Speech Commands and folders, 22.05 kHz for GTZAN, 44.1 kHz for ESC-50 and UrbanSound8K).
        duration: seconds every clip is padded or cropped to; None: the dataset's usual length (1 s for
            FSDD and Speech Commands, 30 s for GTZAN, 5 s for ESC-50, 4 s for UrbanSound8K, 0.5 s for tones) or, for a folder, its longest readable clip
            (logged with the file that set it).
        align: ``"center"`` pads/crops both ends equally, ``"start"`` keeps the beginning.
        normalization: ``"channel"`` (one mean/std per FD-MFCC channel) or ``"coefficient"`` (per channel
            and cepstral coefficient, global CMVN), from the training split.
        strict: fail on the first unreadable or empty file instead of skipping it.
        test_fraction, seed: held-out fraction per class (seeded) where the source has no split.
        split_seed: seed of that held-out split and of the generated ``tones``; None: ``seed`` (a recipe passes its
            ``split_seed``: the split and the generated data are the data's, the same for every distillation seed).
        group_by: groups (a speaker) never split, read by what ``root`` is (:mod:`.groups`): a column of a folder CSV's
            header row, or for class folders (and ``train/`` + ``test/``) a regular expression over each clip's file
            name (its first capture group names the group) or ``ucf``; for ``fsdd`` ``speaker`` (its file names'
            speakers; none: FSDD's own split, takes 0-4 held out). The drawn split holds out ``test_fraction`` of
            the groups with all their clips, among the readable clips, and a given split that puts a group on both sides
            is refused. The held-out groups are logged and stored in the load report (``group_by``, ``test_groups``),
            the rule in the dataset's ``split_rule``.
        test_fold: the official fold held out of ``esc50``/``esc10`` (1-5) or ``urbansound8k`` (1-10); None: the last
            (:data:`~.folds.RELEASES`). A value for any other dataset is a ConfigError. Recorded as the load report's
            ``test_fold`` and the dataset's ``split_rule``.
        validation: the fraction of the training clips a recipe's ``validation`` holds out later (0 or None: none); only said:
            clips in sub-folders of class folders without ``group_by`` are held out one by one (:func:`~..groups.tell_nested_split`).
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
    check_test_fraction(test_fraction)
    if int(batch_files) < 1:
        raise ConfigError(f"batch_files must be >= 1, got {batch_files!r}")
    if align not in ALIGNMENTS:
        raise ConfigError(f"align must be one of {ALIGNMENTS}, got {align!r}")
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"normalize must be one of {NORMALIZATIONS}, got {normalization!r}")
    in_memory = registered_clips(key)  # register_tensors: its own rate, its longest waveform
    native_rate, native_duration = (in_memory.sample_rate, in_memory.seconds()) if in_memory is not None else NATIVE[key]
    rate = native_rate if sample_rate is None else int(sample_rate)
    params = dataclasses.replace(params or FDMFCCParams(), sample_rate=rate)
    data_seed = seed if split_seed is None else split_seed  # the held-out split's and generated tones' (split_seed as given: warned below)
    found = _find(key, root, download=download, strict=strict, data_seed=data_seed,
                  group_by=group_by, test_fold=test_fold)
    warn_unused_split_keys(key, found, test_fraction, split_seed)
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
    where = f"dataset {key!r}" + (f" at {root}" if key != "tones" and in_memory is None else "")
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
    unread = {b.name for b in skipped}
    read = [it for it in items if it.name not in unread]  # the clips of x, in its order
    if found.needs_split and found.group_by:  # whole groups of the readable clips (names are unique: the CSV refuses twins)
        flags, held = draw_groups(found, read, test_fraction, data_seed, root)
        split = torch.tensor([1 if t else 0 for t in flags])
    elif found.needs_split:
        x, y, split = _split_readable(x, y, classes, test_fraction, data_seed)
    train, test = split == 0, split == 1
    report = _report(found, skipped, counts, root if key != "tones" and in_memory is None else None, num_samples / rate, rate, align)  # tones: no files, no root
    report.facts.update(found.facts)  # an official fold held out: test_fold
    if found.group_by:
        report.facts.update({"group_by": found.group_by, "test_groups": held})
    elif key == "folder" and Path(str(root)).expanduser().is_dir():  # UCF-style recordings on both sides, as video warns
        warn_recordings_in_both(read, test.tolist(), report)
        if found.needs_split:  # clips in sub-folders of class folders, drawn clip by clip: said as video and AV say it
            sides = ["test" if t else "train" for t in test.tolist()]
            tell_nested_split(str(root), [it.name for it in read], [it.label for it in read], sides, root, log, report.facts,
                              validation=validation)
    if not train.any():
        raise DataError(f"dataset {key!r} at {root}: no readable training clips")
    if not test.any():
        raise DataError(f"dataset {key!r} at {root}: no readable test clips")
    named = said_group_by_of(found)  # file-name groups, FSDD's speakers, or a CSV column (None)
    classes_without_test(key, classes, y[train], y[test], group_no_test_reason(str(found.group_by), named=named)
                         if found.needs_split and found.group_by
                         else "a class needs at least two readable clips to hold one out" if found.needs_split
                         else "y_test holds no label of it; add test clips of it to score it" if in_memory is not None
                         else "the test split has no folder or row for them, or their test clips were unreadable", report)
    mean, std = feature_stats(x[train], normalization)
    x = normalize(x, mean, std)
    groups = [it.group for it in read]  # one per row of x
    train_groups = [str(g) for g, t in zip(groups, train.tolist()) if t] if all(g is not None for g in groups) else None
    return AudioDataset(key, x[train], y[train], x[test], y[test], classes, mean, std, params, num_samples, skipped, report,
                        split_rule(found), train_groups,
                        drawn_by(test_fraction, data_seed) if found.needs_split or key == "tones" else None)


def _split_readable(x: Tensor, y: Tensor, classes: list[str], test_fraction: float, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """The held-out split of the readable clips (x, y in class-major order): :func:`~.find._held_out`'s draw over the
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


#: the public names of this module before the loader was split by job (the split's modules define most of them)
__all__ = [
    "AudioDataset", "AudioItem", "DATASETS", "HIDDEN", "MAX_FSDD_BYTES", "MIN_SAMPLE_RATE", "NATIVE", "REPORT_KINDS", "TONE_CLASSES",
    "audio_memory_bytes", "canonical_name", "find_audio_items", "list_audio_datasets", "load_audio_dataset", "tone_clip",
]
