"""Caption records and what loading them found: :class:`CaptionRecord` (one caption of one image, where it came from),
:class:`BadInput` (the loader's :class:`~mmdistill.load_report.LoadReport`: bad input by kind, :data:`REPORT_KINDS`, and the
``on_bad`` policy) and the cleaning of one caption (:func:`replace_controls`, :func:`clean_caption`)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import ClassVar, Mapping

from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport
from mmdistill.words import shown as escaped, unsafe

# these lines logged from the loader's module before it was split: they log under its name still
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".loaders")

BAD_KINDS = {
    "missing_image": "caption rows whose image file does not exist",
    "unreadable_image": "images that cannot be decoded",
    "empty_caption": "empty captions",
    "duplicate": "duplicate pairs or image ids",
    "no_caption": "images without any caption",
    "unreadable_caption": "caption files that are not UTF-8 text",
}
#: the load report's kinds: what ``on_bad=skip`` dropped, and the captions that went with a dropped image
REPORT_KINDS = {**BAD_KINDS, "captions_of_dropped_images": "further captions of dropped images (the first is counted with its image)",
                "cut_captions": "captions cut to max_caption_words words (kept, shortened)",
                "long_captions": "captions longer than the text encoder's context (kept; it reads only their first tokens)",
                "cleaned_captions": "captions holding control or bidi characters (kept, each such character replaced by a space)",
                "same_image": "images that are another image of their split under another name (a hard link or a byte-identical "
                              "copy; kept)",
                "exif_rotated": "images turned upright by their EXIF orientation tag (as the image loader reads photos)"}


@dataclass
class CaptionRecord:
    """One caption of one image; ``where`` says where it came from (for messages)."""

    image: str
    caption: str
    split: str | None
    where: str


@dataclass
class BadInput(LoadReport):
    """Problems found while reading, by kind (:data:`REPORT_KINDS`): a :class:`~mmdistill.load_report.LoadReport`
    whose entries are ``(name, reason)``. The name says where (an image path relative to the image root,
    ``captions.csv line 7``, ``coco.json images[3]``) and goes into the manifest; the reason (``PermissionError:
    ...``, which can name the machine's folders) only into messages and the log. :meth:`resolve` applies the
    ``on_bad`` policy to what was found."""

    KINDS: ClassVar[Mapping[str, str]] = REPORT_KINDS

    def problems(self, examples: int = 3) -> str:
        """``"2 empty captions (a.csv line 3, a.csv line 9); 1 images that cannot be decoded (x.png (OSError))"``:
        every non-empty kind with its first ``examples`` names and reasons."""
        parts = []
        for kind in self.kinds():
            items = self.items(kind)
            if items:
                shown = ", ".join(f"{n} ({r})" if r else n for n, r in items[:examples]) + (", ..." if len(items) > examples else "")
                parts.append(f"{len(items)} {self.describe(kind)} ({shown})")
        return "; ".join(parts)

    def resolve(self, policy: str, source: str) -> dict[str, int]:
        """Raise (``policy="error"``) or log (``"skip"``) what was found; returns the non-zero counts."""
        counts = {k: n for k, n in self.counts().items() if n}
        if not counts:
            return {}
        if policy == "error":
            raise DataError(f"{source}: {self.problems()}. Fix the data, or pass on_bad=skip to drop these and "
                            "continue (the counts are reported and stored in the manifest)")
        log.warning("%s: dropped %s", source, self.problems())
        return counts


def replace_controls(text: str) -> tuple[str, str]:
    """``text`` with each control or bidi character (:func:`mmdistill.words.unsafe`, whitespace aside: it is collapsed
    by :func:`clean_caption`) replaced by a space, and those characters escaped for a message (``""``: none)."""
    odd = sorted({ch for ch in text if unsafe(ch) and not ch.isspace()})
    if not odd:
        return text, ""
    return "".join(" " if ch in odd else ch for ch in text), escaped("".join(odd))


def clean_caption(text: str, max_words: int) -> str:
    """Whitespace collapsed, stripped, cut to ``max_words`` words (the reference keeps 30)."""
    words = re.sub(r"\s+", " ", str(text)).strip().split(" ")
    return " ".join(words[:max_words]).strip()
