"""A folder of clips with sound (``dataset video``) read into pairs (:class:`~.raw_pairs.RawPair`): the clips
found and split by the video adapter's layout (:func:`~..video.datasets.discover`: class folders, train/test folders, a
``path,label,split`` CSV), each clip's middle frame and sound track decoded with decord (:mod:`.decord_clips`); class
folders' split drawn again among the readable clips (:mod:`.pair_split`, :mod:`.folder_groups`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport, relative_name

from ..artifacts import one_spelling_per_label
from ..audio.decode import BadFile, Clip, describe_bad
from ..groups import tell_nested_split
from .decord_clips import open_clip
from .folder_groups import AV_SPLIT_HINT, redraw_groups
from .pair_split import _hold_out
from .raw_pairs import RawPair, _natural

log = logging.getLogger(__name__)


#: the video reader's kinds, beside :data:`REPORT_KINDS`
VIDEO_KINDS = {"length_mismatch": "clip(s) whose sound track and video differ in length (kept)",
               "ignored": "file(s) or folder(s) under the data root not used (not clips of the layout, or hidden)",
               "unused": "clip(s) the layout leaves out (a val split beside a test split, not listed by the split file)"}


def read_video_pairs(root: Path, cfg: Any) -> list[RawPair]:
    """Each clip's middle frame (decord ``VideoReader``) and its sound track (decord ``AudioReader``, mono, the
    file's own rate). A clip without an audio track or that cannot be decoded is skipped and listed (``strict``:
    DataError naming it). Class folders (no split given) hold out ``test_fraction`` of each class's readable clips,
    drawn with ``cfg.split_seed`` (:func:`_hold_out`); train/test folders and split files keep their split."""
    return _read_video(root, cfg)[0]


def _read_video(root: Path, cfg: Any, report: LoadReport | None = None) -> tuple[list[RawPair], list[str], list[BadFile], list[str]]:
    """(pairs, every class the layout names, the skipped clips, the clips whose sound track and video differ in
    length by more than 10 % and 0.1 s: logged, kept): see :func:`read_video_pairs`. ``report`` (when given)
    receives what the layout does not use (``ignored``: files that are not clips of the layout and hidden entries;
    ``unused``) and the facts ``layout`` and ``split_drawn``. Each clip is read by :func:`~.decord_clips.open_clip`
    (decord's C++ log lines captured: the reason of a clip that does not open is its last line)."""
    from ..video.datasets import discover
    from ..video.train_groups import clip_groups

    try:
        import decord
    except ImportError:
        raise ConfigError("reading video files needs decord: pip install \"mmdistill[video]\"") from None
    report = report if report is not None else LoadReport()
    group_by = getattr(cfg, "group_by", None) or None
    items = discover(root, "files", None, cfg.test_fraction, cfg.split_seed, report=report, group_by=group_by,
                     remedy=FOLDER_GROUP_REMEDY, split_hint=AV_SPLIT_HINT)  # names hidden entries too; group_by: .folder_groups
    one_spelling_per_label(str(root), {relative_name(str(it.path), root): it.label for it in items}, "clip")
    pairs, bad, mismatched = [], [], []
    for it in items:
        if it.path.suffix.lower() == ".gif":  # listed by the video layout (read with Pillow there); decord cannot open one
            bad.append(BadFile(str(it.path), NO_SOUND_GIF))
            continue
        tracks, why = open_clip(decord, it.path, middle=True)
        if tracks is None:
            bad.append(BadFile(str(it.path), why))
            continue
        tracks.log_native(it.path)
        video_s = len(tracks.video) / tracks.fps if tracks.fps > 0 else None
        audio_s = tracks.samples.size / tracks.rate
        if video_s is not None and abs(audio_s - video_s) > max(0.1, 0.1 * max(audio_s, video_s)):
            mismatched.append(f"{it.path} (sound {audio_s:.2f} s, video {video_s:.2f} s)")
        pairs.append(RawPair(str(it.path), Clip(tracks.samples, tracks.rate), tracks.middle, it.label, it.split, str(it.path)))
    if bad:
        msg = f"{root}: {describe_bad(bad, what='unreadable clip')} (of {len(items)} clips)"
        if cfg.strict:
            raise DataError(f"{msg} (strict mode; leave strict off to skip them)")
        log.warning("%s", msg)
    if mismatched:
        log.info("%s: %d clip(s) whose sound track and video differ in length (kept: the middle frame with the centred %g s of "
                 "sound): %s%s", root, len(mismatched), cfg.duration, "; ".join(mismatched[:3]), " ..." if len(mismatched) > 3 else "")
    classes = sorted({it.label for it in items}, key=_natural)
    if report.facts.get("split_drawn") and bad and pairs:  # class folders with unreadable clips: drawn again among the readable ones
        if group_by:  # whole groups of the readable clips
            flags = redraw_groups([p.name for p in pairs], [p.label for p in pairs], group_by, cfg.test_fraction, cfg.split_seed,
                                  root, report)
            for p, t in zip(pairs, flags):
                p.split = "test" if t else "train"
        else:
            _hold_out(pairs, classes, cfg.test_fraction, cfg.split_seed)  # (every clip readable: discover's split, as before)
        report.facts["split_redrawn"] = True
    if report.facts.get("split_drawn") and not group_by and pairs:  # clips in sub-folders of class folders: say so
        tell_nested_split(str(root), [p.name for p in pairs], [p.label for p in pairs], [p.split for p in pairs], root, log,
                          report.facts, validation=getattr(cfg, "validation", None))
    known = clip_groups([Path(p.name) for p in pairs], [p.label for p in pairs], group_by, root)
    for p, g in zip(pairs, known or []):  # group_by's groups, or UCF-named clips' recordings: validation= holds them out whole
        p.group = g
    return pairs, classes, bad, [m.split(" (sound ")[0] for m in mismatched]


#: what the video layout's warning of UCF-style recordings on both sides of a split tells a user of the folder of clips
#: (:mod:`.folder_groups`)
FOLDER_GROUP_REMEDY = ("pass --group-by ucf (group_by=ucf) to hold out whole groups, or give the split yourself with each recording "
                       "on one side: train/ and test/ folders, or data_root a CSV path,label,split")


#: why a ``.gif`` clip is skipped: the picture is fine, but the format carries no sound
NO_SOUND_GIF = "a GIF has no audio track (audio-visual pairs need clips with sound)"


__all__ = ["FOLDER_GROUP_REMEDY", "NO_SOUND_GIF", "VIDEO_KINDS", "read_video_pairs"]
