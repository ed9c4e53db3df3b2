"""The video loader's :class:`LoadReport`: what a load of clips skipped, padded, shortened, converted or left out, each
kind named with a count (:data:`REPORT_KINDS`), and the error ``strict`` makes of it."""

from __future__ import annotations

from typing import Iterable

from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport as CoreLoadReport


REPORT_KINDS = ("unreadable", "skipped_short", "ignored", "unused", "padded", "shrunk_gap", "mixed_sizes", "converted_rgb",
                "exif_rotated")
#: the kinds that leave an item out
LEFT_OUT_KINDS = ("unreadable", "skipped_short", "ignored")
#: the kinds of a clip shorter than (num_frames - 1) x frame_gap + 1 frames that the ``short`` policy kept
SHORT_KINDS = ("padded", "shrunk_gap")
#: the kinds ``strict`` turns into errors: everything that leaves an item out, and every too-short clip
STRICT_KINDS = LEFT_OUT_KINDS + SHORT_KINDS


class LoadReport(CoreLoadReport):
    """:class:`mmdistill.load_report.LoadReport` with the video loader's kinds; entries are ``(path, reason)``.
    ``ignored``: files and folders found under the root that are not clips of the layout (a file beside the class
    folders, a file of a type that is not a video in a class folder, a file that is not a frame image in a clip
    folder); ``unused``: clips the layout leaves out by design (``val/`` when ``test/`` exists, a split file's ``val``
    rows when it has ``test`` rows, a clip under the root the split file does not list, one HMDB51's split lists as
    neither train nor test, a Kinetics clip listed but not found: :mod:`.split_official`) and the other image sequences
    of a clip folder that holds RGB frames (``img_*``) beside optical flow (``x_*``, ``y_*``: mmaction2's rawframes
    layout; one entry ``<clip>/<prefix>*`` per sequence), named and never made an error by ``strict``.
    ``facts["layout"]`` says which layout was read. The kinds read as attributes (``report.unreadable``: a copy of the
    entries; fill through ``add``) and ``cache`` is the ``cache`` fact (``hit``, ``wrote`` or ``not written`` (a
    warning said why) and the cache file's name)."""

    KINDS = {"unreadable": "unreadable or empty file(s) skipped",
             "skipped_short": "clip(s) shorter than (num_frames - 1) x frame_gap + 1 frames skipped (short=skip)",
             "ignored": "file(s) or folder(s) under the data root not used (not a clip of the layout)",
             "unused": "clip(s) or frame sequence(s) the layout leaves out (a val split beside a test split, not listed by the "
                       "split file, listed in neither split (HMDB51's id 0), listed but not found under the data root (a release's lost clips), or optical "
                       "flow beside a clip folder's img_ frames)",
             "padded": "short clip(s) padded by repeating the last frame",
             "shrunk_gap": "short clip(s) sampled with a smaller frame gap (short=gap, the reference's rule)",
             "mixed_sizes": "clip(s) whose frame images differ in size, each frame resized to frame_size x frame_size",
             "converted_rgb": "clip(s) whose frame images are not stored as RGB (greyscale, palette or with alpha: mode L, P, "
                              "RGBA ...), read as RGB",
             "exif_rotated": "clip(s) whose frame images were turned upright by their EXIF orientation tag (as the image "
                             "loader reads photos)"}

    unreadable = property(lambda self: self.items("unreadable"))
    skipped_short = property(lambda self: self.items("skipped_short"))
    ignored = property(lambda self: self.items("ignored"))
    unused = property(lambda self: self.items("unused"))
    padded = property(lambda self: self.items("padded"))
    shrunk_gap = property(lambda self: self.items("shrunk_gap"))
    mixed_sizes = property(lambda self: self.items("mixed_sizes"))
    converted_rgb = property(lambda self: self.items("converted_rgb"))

    @property
    def cache(self) -> str:
        return str(self.facts.get("cache", ""))

    def strict_error(self, kinds: Iterable[str] = STRICT_KINDS, **kw: str) -> "DataError | None":
        """The error ``strict`` raises for what this report, among ``kinds``, left out or kept although too short
        (None: nothing): items left out first, then short clips, naming the ``short`` policy that padded or shrank them.
        ``kw``: the core's ``flag``, ``noun``, ``would`` and ``without``, which word the error for items left out as the
        core's does; ``flag`` also names the option in the error for short clips."""
        kinds = list(kinds)  # hidden entries are named, never an error (the core's rule for every loader)
        if (left := super().strict_error([k for k in kinds if k in LEFT_OUT_KINDS], **kw)) is not None:
            return left
        flag = {"flag": kw["flag"]} if "flag" in kw else {}
        if "shrunk_gap" in kinds and self.total(["shrunk_gap"]):
            padded = self.total(["padded"]) if "padded" in kinds else 0
            what = ("would be sampled with a smaller frame gap (short=gap, the reference's rule"
                    + (f"; {padded} of them also padded by repeating the last frame" if padded else "") + ")")
            return super().strict_error(["shrunk_gap"], noun="clip(s)", would=f"are shorter than (num_frames - 1) x frame_gap + 1 frames and {what}",
                                        without="short=gap shrinks their gap, counts and logs them", **flag)
        if "padded" not in kinds:
            return None
        return super().strict_error(["padded"], noun="clip(s)", would="are shorter than (num_frames - 1) x frame_gap + 1 frames and would be padded by "
                                    "repeating the last frame (short=pad)", without="short=pad pads them, counts and logs them", **flag)


__all__ = ["LEFT_OUT_KINDS", "LoadReport", "REPORT_KINDS", "SHORT_KINDS", "STRICT_KINDS"]
