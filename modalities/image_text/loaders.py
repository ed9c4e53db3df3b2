"""Read image-caption datasets into :class:`PairSplit` tensors.

Sources (each gives caption records ``(image path, caption, split or None)``):

* CSV with a header naming ``image`` and ``caption`` (and optionally ``split``), image paths relative to the
  image root (:func:`read_csv_records`; a caption may run over several lines inside quotes, a quote left open to the
  end of the file or a line break in a path is refused naming the line the row starts on);
* caption JSON (:func:`read_json_records`): Karpathy's ``dataset_coco.json`` / ``dataset_flickr30k.json``
  (``images[].sentences[].raw`` with a ``split`` per image; ``restval`` counts as train, ``val`` is left
  out and counted), BLIP-style lists ``[{"image", "caption"}]`` (``caption`` a string or a list; the train
  and test files given separately), and COCO's ``captions_*.json`` (``images`` + ``annotations``);
* a folder of images with sidecar ``.txt`` captions, one caption per non-empty line
  (:func:`read_folder_records`), optionally split into ``train/`` and ``test/`` sub-folders;
* ``shapes``: generated coloured shapes with several captions each (:func:`shapes_records`), no files.

Caption files are UTF-8 (a byte-order mark is allowed); a file that is not, a malformed entry (a caption or
image name that is not a string) or captions of one image in different splits stop loading with a
:class:`DataError` naming the file and entry. Bad input (a caption whose image is missing or unreadable, an
empty caption, a duplicate pair or image id, an image without a caption, a sidecar caption file that is not
UTF-8) is collected in a :class:`BadInput` with counts and examples: with
``on_bad="error"`` loading stops with a :class:`DataError` that names them all, with ``"skip"`` they are
dropped and the counts are printed and stored in the data's ``meta["dropped"]``, and with their first names in a
:class:`mmdistill.load_report.LoadReport` (``meta["load_report"]``); nothing is dropped silently. A COCO image id
listed for two file names is refused naming both entries (the same file name twice is one image). An image path that
is a folder, FIFO, device or symbolic link loop is named for what it is (``unreadable_image``), never opened. One
image under two names (a hard link, or a byte-identical copy) in train and test is refused naming a pair and the count;
within one split it is kept, named and counted (``same_image``). Control and bidi characters in a caption are each
replaced by a space, named and counted (``cleaned_captions``).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import logging
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Mapping

import torch
from torch import Tensor

from mmdistill.csv_lines import line_list, numbered_records, quote_error, refuse_line_breaks
from mmdistill.errors import DataError
from mmdistill.io import decode_utf8
from mmdistill.json_text import parse_json
from mmdistill.load_report import LoadReport
from mmdistill.seeding import generator
from mmdistill.words import shown as escaped, unsafe

from ..artifacts import check_images_fit
from .data import PairSplit, normalised_pixels

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TRAIN_SPLITS = ("train", "restval")
KNOWN_SPLITS = ("train", "restval", "val", "test")

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


# --------------------------------------------------------------------------- sources
def _read_text(path: Path, what: str) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped); a DataError names a file that is not UTF-8."""
    if path.is_dir():
        raise DataError(f"{what} {path} is a folder; data_root names the caption file itself (dataset=folder reads a folder "
                        "of images with .txt captions)")
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")
    return decode_utf8(path.read_bytes(), path)


def read_csv_records(path: Path) -> list[CaptionRecord]:
    """Rows of a CSV whose header names ``image`` and ``caption`` (and optionally ``split``), each record named by the
    physical line it starts on. A caption may run over several lines inside quotes (named in a warning: a stray quote
    closed further down joins rows the same way); a quote left open to the end of the file, text after a closing quote,
    a line break in the ``image`` or ``split`` field and an empty ``image`` field are a DataError naming the line."""
    text = _read_text(path, "caption CSV")
    if not text.strip():
        raise DataError(f"caption CSV {path} is empty; expected a header line naming the columns image,caption[,split] "
                        "and one row per caption")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # strict: a quote open to the end fails (quote_error)
    rows = list(numbered_records(reader, lambda exc, start, line: quote_error(path, exc, start, line)))
    header = [h.strip().lower() for h in rows[0][2]] if rows else []
    if "image" not in header or "caption" not in header:
        raise DataError(f"{path} line {rows[0][0] if rows else 1}: the header must name the columns 'image' and 'caption' "
                        f"(found {rows[0][2] if rows else []}){_separator_hint(text, header)}")
    records, empty, multi, wide = [], [], [], []
    for start, end, values in rows[1:]:
        if len(values) > len(header) and any(v.strip() for v in values[len(header):]):
            wide.append((start, len(values)))  # an unquoted comma in a caption: zip would cut the caption (or shift split)
            continue
        row = dict(zip(header, values))
        if row.get("image") is None:
            raise DataError(f"{path} line {start}: the row has fewer columns than the header")
        refuse_line_breaks(path, start, end, {k: row.get(k) or "" for k in ("image", "split")})
        if not row["image"].strip():
            empty.append(start)
        if end > start:
            multi.append(f"line {start} (to line {end})")
        split = (row.get("split") or "").strip().lower() or None
        records.append(CaptionRecord(row["image"].strip(), row.get("caption") or "", split, f"{path.name} line {start}"))
    if wide:
        more = f" ({len(wide)} rows: lines {line_list([s for s, _ in wide])})" if len(wide) > 1 else ""
        raise DataError(f"{path} line {wide[0][0]}: the row has {wide[0][1]} comma-separated fields but the header "
                        f"{','.join(rows[0][2])} names {len(header)}{more}; a caption holding a comma must be quoted "
                        '(im.jpg,"a dog, a cat",train), as spreadsheets and csv writers do')
    if empty:
        more = f" ({len(empty)} rows: lines {line_list(empty)})" if len(empty) > 1 else ""
        raise DataError(f"{path} line {empty[0]}: empty 'image' field{more}; every row names its image file, relative to the "
                        "image root")
    if not records:
        raise DataError(f"caption CSV {path} has no rows")
    if multi:
        log.warning("%s: %d caption(s) run over several lines inside quotes (read with the line breaks as spaces): %s%s; if a "
                    "stray quote (\") joined rows into one caption, close it", path, len(multi), ", ".join(multi[:3]),
                    " ..." if len(multi) > 3 else "")
    return records


def _separator_hint(text: str, header: list[str]) -> str:
    """A hint when the first line of ``text`` is separated by tabs, semicolons or pipes (``header``: its columns as
    read with commas)."""
    first = text.splitlines()[0]
    for sep, name in (("\t", "tab"), (";", "semicolon"), ("|", "pipe")):
        if len(header) < 2 and sep in first:
            return f"; the first line is {name}-separated, the loader reads comma-separated values: convert the file" + (
                " (Flickr8k's Flickr8k.token.txt 'name.jpg#0<TAB>caption' becomes 'image,caption' rows)" if name == "tab" else "")
    return ""


def _load_json(path: Path) -> object:
    text = _read_text(path, "caption file")
    try:
        return parse_json(text, unique_keys=False)  # a user's file: the last value of a key given twice, as other tools read it
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc})") from None


def _string(value: object, path: Path, where: str, field: str) -> str:
    """``value`` when it is a string; a DataError naming the entry and field otherwise."""
    if not isinstance(value, str):
        raise DataError(f"{path} {where}: '{field}' must be a string, got {type(value).__name__} {str(value)[:40]!r}")
    return value


def _caption(value: object, path: Path, where: str, field: str) -> str:
    """A caption: a string, or null / missing (an empty caption, counted as such)."""
    return "" if value is None else _string(value, path, where, field)


def read_json_records(path: Path, test_path: Path | None = None, bad: BadInput | None = None) -> list[CaptionRecord]:
    """Records of a Karpathy, BLIP-style or COCO caption JSON (see the module docstring). An image listed
    without any caption (a COCO image no annotation names, a BLIP entry with an empty caption list) goes to
    ``bad`` as ``no_caption``."""
    bad = bad if bad is not None else BadInput()
    data = _load_json(path)
    if isinstance(data, dict) and isinstance(data.get("images"), list) and data["images"] and "sentences" in data["images"][0]:
        if test_path is not None:
            raise DataError(f"{path} is a Karpathy file with its own splits; do not pass test_captions")
        return _karpathy(data, path)
    split = "train" if test_path is not None else None
    records = _flat_json(data, path, split, bad)
    if test_path is not None:
        records += _flat_json(_load_json(test_path), test_path, "test", bad)
    return records


def _karpathy(data: dict, path: Path) -> list[CaptionRecord]:
    records = []
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict):
            raise DataError(f"{path} images[{i}]: expected an object with 'filename' and 'sentences', got {type(img).__name__}")
        name = img.get("filename")
        if not name:
            raise DataError(f"{path}: images[{i}] has no 'filename'")
        name = _string(name, path, f"images[{i}]", "filename")
        folder = _string(img["filepath"], path, f"images[{i}]", "filepath") if img.get("filepath") else ""
        rel = f"{folder}/{name}" if folder else name
        split = str(img.get("split", "")).lower() or None
        sentences = img.get("sentences") or []
        if not isinstance(sentences, list):
            raise DataError(f"{path} images[{i}]: 'sentences' must be a list, got {type(sentences).__name__}")
        if not sentences:
            records.append(CaptionRecord(rel, "", split, f"{path.name} images[{i}]"))
        for j, s in enumerate(sentences):
            where = f"images[{i}].sentences[{j}]"
            if isinstance(s, dict):
                raw = s.get("raw")
                if raw is None:
                    tokens = s.get("tokens", [])
                    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                        raise DataError(f"{path} {where}: 'tokens' must be a list of strings")
                    raw = " ".join(tokens)
                raw = _caption(raw, path, where, "raw")
            else:
                raw = _caption(s, path, where, "sentence")
            records.append(CaptionRecord(rel, raw, split, f"{path.name} {where}"))
    return records


def _flat_json(data: object, path: Path, split: str | None, bad: BadInput) -> list[CaptionRecord]:
    if isinstance(data, dict) and "annotations" in data and "images" in data:  # COCO captions_*.json
        if not isinstance(data["images"], list) or not isinstance(data["annotations"], list):
            raise DataError(f"{path}: 'images' and 'annotations' of a COCO captions file must be lists")
        names: dict[object, str] = {}
        entry_of: dict[object, int] = {}  # image id -> the index of its first images[] entry
        for i, img in enumerate(data["images"]):
            if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
                raise DataError(f"{path} images[{i}]: a COCO image entry needs 'id' and 'file_name' (found "
                                f"{sorted(img) if isinstance(img, dict) else type(img).__name__})")
            if not isinstance(img["id"], (int, str)) or isinstance(img["id"], bool):
                raise DataError(f"{path} images[{i}]: 'id' must be an integer or a string, got {type(img['id']).__name__} "
                                f"{str(img['id'])[:40]!r}")
            name = _string(img["file_name"], path, f"images[{i}]", "file_name")
            if img["id"] in names:
                if names[img["id"]] != name:  # annotations name images by id: whose captions they are cannot be told
                    raise DataError(f"{path} images[{i}]: image id {img['id']!r} is listed twice, for {names[img['id']]!r} "
                                    f"(images[{entry_of[img['id']]}]) and {name!r} (images[{i}]); give each image its own id")
                continue  # the same file listed twice under its id: one image
            names[img["id"]] = name
            entry_of[img["id"]] = i
        records = []
        for i, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict):
                raise DataError(f"{path} annotations[{i}]: expected an object with 'image_id' and 'caption', got {type(ann).__name__}")
            if not isinstance(ann.get("image_id"), (int, str)) or ann.get("image_id") not in names:
                raise DataError(f"{path}: annotations[{i}] names image_id {ann.get('image_id')!r}, which is not in 'images'")
            records.append(CaptionRecord(names[ann["image_id"]], _caption(ann.get("caption"), path, f"annotations[{i}]", "caption"),
                                         split, f"{path.name} annotations[{i}]"))
        named = {ann["image_id"] for ann in data["annotations"]}
        for image_id, i in entry_of.items():
            if image_id not in named:
                bad.add("no_caption", f"{path.name} images[{i}]", names[image_id])
        return records
    if not isinstance(data, list) or not all(isinstance(a, dict) and "image" in a and "caption" in a for a in data):
        raise DataError(f"{path}: expected a Karpathy file ({{'images': [{{'filename', 'sentences'}}]}}), a list of "
                        "{'image', 'caption'} entries or a COCO captions file ({'images', 'annotations'})")
    records = []
    for i, ann in enumerate(data):
        image = _string(ann["image"], path, f"[{i}]", "image")
        if not image.strip():
            raise DataError(f"{path} [{i}]: 'image' is empty")
        caps = ann["caption"] if isinstance(ann["caption"], list) else [ann["caption"]]
        if not caps:
            bad.add("no_caption", f"{path.name}[{i}]", image)
        for j, cap in enumerate(caps):
            where = f"[{i}]" + (f".caption[{j}]" if len(caps) > 1 else "")
            records.append(CaptionRecord(image, _caption(cap, path, where, "caption"), split, f"{path.name}{where}"))
    return records


def read_folder_records(root: Path, bad: BadInput) -> list[CaptionRecord]:
    """Images under ``root`` (or ``root/train`` and ``root/test``) with sidecar ``<stem>.txt`` captions."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    parts = [(root / s, s) for s in ("train", "test") if (root / s).is_dir()]
    if parts and (root / "val").is_dir():
        # as the image, audio and video loaders read train/ + val/: val is the test split when there is no test/;
        # beside a test/ its images are left out and counted (unused_val_images), as a Karpathy file's val split
        as_split = "val" if (root / "test").is_dir() else "test"
        parts.append((root / "val", as_split))
        log.info("%s: val/ read as the %s", root, "test split (no test/ folder)" if as_split == "test" else
                 "validation split, left out (test/ is the test split)")
    if not parts:
        parts = [(root, None)]
    records: list[CaptionRecord] = []
    for folder, split in parts:
        images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        stems = Counter(p.with_suffix("").as_posix() for p in images)
        for p in images:
            rel = p.relative_to(root).as_posix()
            if stems[p.with_suffix("").as_posix()] > 1:
                bad.add("duplicate", rel, "shares its caption file with another image")
                continue
            txt = p.with_suffix(".txt")
            if not txt.is_file():
                bad.add("no_caption", rel)
                continue
            try:
                text = txt.read_bytes().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                bad.add("unreadable_caption", txt.relative_to(root).as_posix(), f"byte {exc.object[exc.start]:#04x} at offset {exc.start}")
                continue
            lines = [ln for ln in text.splitlines() if ln.strip()]
            if not lines:
                bad.add("empty_caption", txt.relative_to(root).as_posix())
                continue
            records += [CaptionRecord(rel, ln, split, f"{txt.relative_to(root).as_posix()} line {k + 1}") for k, ln in enumerate(lines)]
    if not records and not bad.counts():
        raise DataError(f"image folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)}) with .txt captions")
    return records


def canonical_image_paths(records: list[CaptionRecord], root: Path) -> list[CaptionRecord]:
    """``records`` with every spelling of one image file given one name, so the split and duplicate checks see one
    image. A path is taken relative to ``root`` (an absolute path as it is) and normalised (``./``, ``..``, repeated
    ``/``); its name is then that path relative to ``root`` (``/``-separated; ``../`` for a file outside it, so no
    machine folder goes into a manifest). Names that resolve to the same file (:meth:`Path.resolve`: a symbolic link and its target) take the first of
    them in sorted order. Rows whose name changes are logged (how many, one example)."""
    base = os.path.abspath(root)

    def lexical(name: str) -> str:
        path = os.path.abspath(os.path.join(base, name))
        try:
            return Path(os.path.relpath(path, base)).as_posix()
        except ValueError:  # another drive (Windows): no relative path
            return Path(path).as_posix()

    def identity(name: str) -> str:
        try:
            return str((root / name).resolve())
        except (OSError, RuntimeError):  # a symbolic link loop: compared as written, reading it names the problem
            return lexical(name)

    spelled = {name: lexical(name) for name in {r.image for r in records}}
    file_of = {name: identity(name) for name in spelled}  # one resolve() per spelling
    by_file: dict[str, str] = {}
    for name in sorted(spelled, key=lambda n: spelled[n]):
        by_file.setdefault(file_of[name], spelled[name])
    names = {name: by_file[file_of[name]] for name in spelled}
    renamed = [r for r in records if names[r.image] != r.image]
    if renamed:
        log.info("%d caption row(s) name their image by another path than the one used for it (e.g. %s: %r is %r); "
                 "rows naming one file are one image", len(renamed), renamed[0].where, renamed[0].image, names[renamed[0].image])
    return [r if names[r.image] == r.image else CaptionRecord(names[r.image], r.caption, r.split, r.where) for r in records]


@dataclass(frozen=True)
class ImageFile:
    """What tells image files apart, as recorded when one is read (:class:`FileOpener`) or looked at: the device and
    inode (``st_dev``, ``st_ino``: one file under two names shares them), the size, and the SHA-256 of its bytes
    (hex; None when the file was only looked at, not read)."""

    dev: int
    ino: int
    size: int
    sha256: str | None = None


def _looked_at(path: Path) -> ImageFile | None:
    """:class:`ImageFile` of ``path`` from a ``stat`` (no digest); None when it cannot be examined or is no regular file."""
    try:
        st = path.stat()
    except OSError:
        return None
    return ImageFile(st.st_dev, st.st_ino, st.st_size) if stat.S_ISREG(st.st_mode) else None


def _file_sha256(path: Path) -> str | None:
    """The SHA-256 of ``path``'s bytes (hex), read in 1 MiB chunks; None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def same_image_groups(root: Path, names: list[str], recorded: Mapping[str, ImageFile] | None = None) -> list[tuple[list[str], str]]:
    """Groups of ``names`` (image paths relative to ``root``, already canonical: :func:`canonical_image_paths`) that are
    one image under several names, each ``(names sorted, how)``: ``how`` is ``"the same file (a hard link)"`` when all
    share ``(st_dev, st_ino)``, else ``"byte-identical files"`` (the same size and SHA-256). ``recorded``: what
    :class:`FileOpener` recorded of each name as it read it (nothing is looked at or read again); a name without a record
    is looked at here (``stat``), and read for its SHA-256 only when another file shares its size. A name that cannot be
    examined is left out (reading it names the problem)."""
    inode: dict[tuple[int, int], list[str]] = {}
    size: dict[tuple[int, int], int] = {}
    digests: dict[tuple[int, int], str] = {}
    for name in names:
        found = (recorded or {}).get(name) or _looked_at(root / name)
        if found is None:
            continue
        key = (found.dev, found.ino)
        inode.setdefault(key, []).append(name)
        size[key] = found.size
        if found.sha256 is not None:
            digests.setdefault(key, found.sha256)
    by_size: dict[int, list[tuple[int, int]]] = {}
    for key, n in size.items():
        by_size.setdefault(n, []).append(key)
    merged: dict[object, list[tuple[int, int]]] = {}
    for n, keys in by_size.items():
        if len(keys) == 1:
            merged[keys[0]] = keys
            continue
        for key in keys:
            digest = digests.get(key) or _file_sha256(root / inode[key][0])
            if digest is None:
                merged[key] = [key]
                continue
            merged.setdefault((n, digest), []).append(key)
    groups = []
    for keys in merged.values():
        members = sorted(m for key in keys for m in inode[key])
        if len(members) > 1:
            groups.append((members, "the same file (a hard link)" if len(keys) == 1 else "byte-identical files"))
    return sorted(groups)


def _refuse_same_images(groups: list[tuple[list[str], str]], split_of: Mapping[str, str], bad: BadInput, source: str) -> None:
    """DataError naming a pair and the count when a group of :func:`same_image_groups` spans train and test; groups
    within one split go to ``bad`` (``same_image``: every name after the first of its group) and a warning."""
    across, within = [], []
    for members, how in groups:
        splits = {split_of[m] for m in members}
        if len(splits) > 1:
            train = next(m for m in members if split_of[m] == "train")
            test = next(m for m in members if split_of[m] == "test")
            across.append(f"{test!r} (test) and {train!r} (train): {how}")
        else:
            within += [(m, f"{how}: the same image as {members[0]!r} ({split_of[m]})") for m in members[1:]]
    if across:
        raise DataError(f"{source}: {len(across)} test image(s) are a training image under another name, e.g. {across[0]}"
                        f"{f' (and {len(across) - 1} more)' if len(across) > 1 else ''}; a test recall would count training "
                        "images: remove the copy or list one name for both")
    if within:
        bad.extend("same_image", within)
        log.warning("%s: %d image(s) are another image of their split under another name (kept, each its own image with its "
                    "own captions): %s", source, len(within),
                    "; ".join(f"{m!r} ({why})" for m, why in within[:3]) + (" ..." if len(within) > 3 else ""))


# --------------------------------------------------------------------------- generated data
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 40)}
SHAPES = ("circle", "square", "triangle")
PLACES = {"left": 0.3, "right": 0.7}


def shapes_records(num_images: int, seed: int) -> tuple[list[CaptionRecord], dict[str, "object"]]:
    """``num_images`` 64x64 pictures of one coloured shape on a grey background, on the left or right,
    with three captions each (records) and the PIL images by id. Seeded; no files."""
    from PIL import Image, ImageDraw

    gen = generator(seed, "shapes")
    records, images = [], {}
    for i in range(num_images):
        colour = list(COLOURS)[int(torch.randint(len(COLOURS), (1,), generator=gen))]
        shape = SHAPES[int(torch.randint(len(SHAPES), (1,), generator=gen))]
        place = list(PLACES)[int(torch.randint(len(PLACES), (1,), generator=gen))]
        r = 10 + int(torch.randint(8, (1,), generator=gen))
        cx, cy = int(64 * PLACES[place]), 20 + int(torch.randint(24, (1,), generator=gen))
        img = Image.new("RGB", (64, 64), (128, 128, 128))
        draw = ImageDraw.Draw(img)
        box = (cx - r, cy - r, cx + r, cy + r)
        if shape == "circle":
            draw.ellipse(box, fill=COLOURS[colour])
        elif shape == "square":
            draw.rectangle(box, fill=COLOURS[colour])
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=COLOURS[colour])
        name = f"shape_{i:05d}"
        images[name] = img
        for k, cap in enumerate((f"a {colour} {shape} on the {place}", f"a {shape} coloured {colour}",
                                 f"on the {place} side there is a {colour} {shape}")):
            records.append(CaptionRecord(name, cap, None, f"shapes[{i}].caption[{k}]"))
    return records, images


# --------------------------------------------------------------------------- images
def image_to_pixels(img: "object", size: int, *, out: Tensor | None = None) -> Tensor:
    """A PIL image as (3, size, size) uint8 pixels: RGB, resized (bicubic, as the reference test transform).
    Greyscale, palette, CMYK and alpha images become RGB (alpha is dropped); 16-bit greyscale (mode ``I;16*``, or a
    mode-``I`` PNG) is scaled from [0, 65535]; other mode-``I`` images are read as 8-bit when their values are in
    0..255, else raise a ValueError; 32-bit float pixels (mode ``F``) have no defined range and raise a ValueError (the
    caller counts the image as unreadable).

    ``out``: a contiguous (3, size, size) uint8 tensor (a row of a split's preallocated images) written in place and
    returned. The temporaries are the RGB image (when converted) and the resized 8-bit image (``size``^2 x 3 bytes)
    with its array."""
    from PIL import Image
    import numpy as np

    from mmdistill.modalities.image.datasets import to_8bit

    if getattr(img, "mode", "RGB") == "F":
        raise ValueError("32-bit float pixels (mode F) have no defined range; save the image as 8-bit RGB")
    img = to_8bit(img, Path(getattr(img, "filename", "") or "the image"))  # 16-bit scaled; 32-bit beyond 0..255 refused
    if getattr(img, "mode", None) != "RGB":  # an RGB image is resized as it is (convert would only copy it)
        img = img.convert("RGB")  # type: ignore[attr-defined]
    rgb = img.resize((size, size), Image.BICUBIC)  # type: ignore[attr-defined]
    x = torch.empty((3, size, size), dtype=torch.uint8) if out is None else out
    return x.copy_(torch.from_numpy(np.array(rgb)).permute(2, 0, 1))  # (size, size, 3) -> (3, size, size)


def image_to_tensor(img: "object", size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """A PIL image as the encoder's (3, size, size) float32 input: :func:`image_to_pixels` scaled to [0, 1] and
    normalised per channel (:func:`.data.normalised_pixels`, the bits a split's :meth:`~.data.PairSplit.normalised_images`
    gives)."""
    return normalised_pixels(image_to_pixels(img, size), mean, std)


class NotAnImageFile(OSError):
    """An image path that names something other than a regular file (a folder, a FIFO, a device, a symbolic link loop);
    its message says what."""


def _not_a_file(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file (``"a folder"``, ``"a FIFO (named pipe)"``, ``"a symbolic link
    loop"``, ``"a symbolic link to a character device (/dev/zero)"``), None for a regular file. FileNotFoundError when
    nothing is there (a symbolic link to nothing included)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise FileNotFoundError(path) from None
    link = ""
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        try:
            st = path.stat()
        except FileNotFoundError:
            raise FileNotFoundError(path) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "a symbolic link loop"
            raise
        link = "a symbolic link to "
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    for test, what in kinds:
        if test(st.st_mode):
            return f"{link}{what}" + (f" ({escaped(target)})" if link else "")
    return None if stat.S_ISREG(st.st_mode) else f"{link}not a regular file"


#: the largest image file read whole into memory to be hashed as it is decoded; a larger one (a mislabelled video, a
#: huge scan) is decoded from disk as before, recorded without its digest (hashed in chunks only if another file has
#: its size)
HASHED_READ_LIMIT = 64 << 20


class FileOpener:
    """``opener(rel)`` -> a loaded PIL image of ``root / rel``; raises FileNotFoundError (nothing there), NotAnImageFile
    (a folder, FIFO, device or symbolic link loop: never opened, so a FIFO or ``/dev/zero`` cannot hang the read) or
    OSError. Each file's bytes are read once: hashed (SHA-256) and decoded from memory (files over
    :data:`HASHED_READ_LIMIT` bytes: decoded from disk, not hashed); what tells the file apart (:class:`ImageFile`:
    device, inode and size of the file opened, and the digest) is kept in :attr:`files` by ``rel``, for
    :func:`same_image_groups`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: what was recorded of each image read, by the name it was read under
        self.files: dict[str, ImageFile] = {}
        #: images turned upright by their EXIF orientation tag (as the image and audio-visual loaders read photos):
        #: (name, how)
        self.rotated: list[tuple[str, str]] = []

    def __call__(self, rel: str) -> object:
        from PIL import Image, UnidentifiedImageError

        from ..image.datasets import upright

        path = self.root / rel
        what = _not_a_file(path)
        if what is not None:
            raise NotAnImageFile(f"{what}, not an image file")
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read() if st.st_size <= HASHED_READ_LIMIT else None
            if stat.S_ISREG(st.st_mode):
                self.files[rel] = ImageFile(st.st_dev, st.st_ino, st.st_size, hashlib.sha256(data).hexdigest() if data is not None else None)
            try:
                with Image.open(io.BytesIO(data) if data is not None else fh) as im:
                    im, how = upright(im)  # photos upright, as the image and audio-visual loaders read them
                    if how is not None:
                        self.rotated.append((rel, how))
                    return im.copy()
            except UnidentifiedImageError:  # Pillow names the stream it was given, not the file
                raise UnidentifiedImageError(f"cannot identify image file {str(path)!r}") from None


def file_opener(root: Path) -> FileOpener:
    """The :class:`FileOpener` of the image files under ``root``."""
    return FileOpener(root)


# --------------------------------------------------------------------------- splits
@dataclass
class LoadedSplits:
    """What :func:`build_splits` returns: the ``train`` and ``test`` :class:`PairSplit`, the ``dropped`` counts per
    kind (by ``on_bad``, plus ``captions_of_dropped_images``), the count of ``val`` images left out and the report."""

    train: PairSplit
    test: PairSplit
    dropped: dict[str, int]
    unused_val_images: int
    #: what was dropped, per kind, with where (``bad`` itself) and the captions of dropped images (a count)
    report: LoadReport = field(default_factory=lambda: BadInput())


def build_splits(
    records: list[CaptionRecord],
    open_image: Callable[[str], object],
    *,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    bad: BadInput,
    on_bad: str,
    source: str,
    test_fraction: float,
    split_order: str,
    seed: int,
    max_words: int,
    progress: bool = True,
    root: Path | None = None,
    check_memory: bool = True,
    memory_hint: str | None = "a smaller image_size (--image-size N)",
) -> LoadedSplits:
    """Clean captions, find duplicates, read each image once, split, and return tensors.

    Records with a split go where it says (``restval`` to train, ``val`` left out and counted); without
    one, the last ``test_fraction`` of the images (sorted by name, or in a seeded random order) is test.
    Control characters (NUL, ESC, DEL, C1) and bidi controls (:data:`mmdistill.words.BIDI_CONTROLS`) in a caption are
    each replaced by a space, counted (``cleaned_captions``) and named in a warning. With ``root`` (the image root of
    files), images that are one file under two names (a hard link) or byte-identical copies are found
    (:func:`same_image_groups`): across train and test a DataError names a pair and the count (a test recall would
    count training images), within a split they are kept, named in a warning and counted (``same_image``).

    Memory: the split of every image is planned before reading (as if every image reads) and each image is decoded
    straight into its row of one preallocated uint8 tensor per split (a ``val`` image into a scratch row: read to check
    it, then left out), so the peak is about the final tensors plus one image; each split keeps the 8-bit pixels with the
    encoder's ``mean``/``std`` as ``pixel_norm`` and normalises a batch when it is read
    (:meth:`PairSplit.normalised_images`: a quarter of the memory of float32 pixels, the same float32 values). When an image fails
    (``on_bad=skip``) a split whose images all lie in one tensor is compacted in place (its storage keeps the rows of the
    failed images); only a split whose images moved between the planned splits (no ``split`` column: the held-out
    count or the random order changed) is copied into a new tensor. ``check_memory`` (the config's ``memory_check``)
    refuses, before anything is decoded, with a DataError naming the image count, the size and the estimate when the
    images cannot fit in the host's available memory (:data:`BYTES_PER_VALUE`); ``memory_hint`` says what to pass
    instead (None: the size cannot be set, fewer images are the way).
    """
    from mmdistill.logs import progress_bar

    with_split = [r for r in records if r.split is not None]
    if with_split and len(with_split) != len(records):
        raise DataError(f"{source}: {len(with_split)} of {len(records)} captions name a split and the others do not")
    unknown = sorted({r.split for r in with_split if r.split not in KNOWN_SPLITS})
    if unknown:
        raise DataError(f"{source}: unknown split name(s) {unknown}; use train, test or val")
    splits_of: dict[str, set[str]] = {}
    for r in with_split:
        splits_of.setdefault(r.image, set()).add("train" if r.split in TRAIN_SPLITS else str(r.split))
    mixed = sorted(name for name, s in splits_of.items() if len(s) > 1)
    if mixed:
        shown = ", ".join(f"{n} ({'/'.join(sorted(splits_of[n]))})" for n in mixed[:3]) + (", ..." if len(mixed) > 3 else "")
        raise DataError(f"{source}: {len(mixed)} image(s) have captions in different splits ({shown}); every caption of an "
                        "image must name the same split")
    seen: dict[tuple[str, str], str] = {}  # (image, caption as kept) -> the caption before the cut
    kept: list[CaptionRecord] = []
    cut = cut_duplicates = 0
    cleaned: list[tuple[str, str]] = []  # (where, the characters replaced)
    for r in records:
        text, odd = replace_controls(str(r.caption))
        if odd:
            cleaned.append((r.where, odd))
        full = clean_caption(text, len(text) + 1)
        cap = clean_caption(text, max_words)
        if not cap:
            bad.add("empty_caption", r.where)
            continue
        key = (r.image, cap)
        if key in seen:
            once_cut = seen[key] != full  # two different captions that agree in their first max_words words
            cut_duplicates += once_cut
            bad.add("duplicate", r.where, f"{r.image!r}: {cap[:40]!r}" + (f" (a duplicate once cut to max_caption_words={max_words})"
                                                                          if once_cut else ""))
            continue
        seen[key] = full
        cut += cap != full
        kept.append(CaptionRecord(r.image, cap, r.split, r.where))
    names = sorted({r.image for r in kept})
    planned = _assign_splits(kept, names, with_split, split_order, test_fraction, seed)  # if every image reads
    held = {split: [n for n in names if (planned or {}).get(n, "train") == split] for split in ("train", "test")}
    if check_memory:
        _check_memory(source, len(held["train"]) + len(held["test"]), size, memory_hint)
    buffers = {split: torch.empty((len(ids), 3, size, size), dtype=torch.uint8) for split, ids in held.items()}
    row_of = {n: (split, i) for split, ids in held.items() for i, n in enumerate(ids)}
    scratch = torch.empty((3, size, size), dtype=torch.uint8)  # a val image: read to check it, not kept
    failed: set[str] = set()
    for name in progress_bar(iterable=names, desc="reading images", disable=not progress, leave=False):
        split, row = row_of.get(name, (None, 0))
        try:
            image_to_pixels(open_image(name), size, out=buffers[split][row] if split else scratch)
        except FileNotFoundError:
            failed.add(name)
            bad.add("missing_image", name)
        except NotAnImageFile as exc:
            failed.add(name)
            bad.add("unreadable_image", name, str(exc))
        except Exception as exc:  # noqa: BLE001 - whatever an image decoder raises on a bad file (PIL raises many kinds)
            failed.add(name)
            from PIL import UnidentifiedImageError

            reason = "" if isinstance(exc, UnidentifiedImageError) or not str(exc) else str(exc).splitlines()[0][:80]
            bad.add("unreadable_image", name, f"{type(exc).__name__}{': ' + reason if reason else ''}")
    del scratch
    # each dropped row counted once, under its first reason: a failed image counts one of its rows (as
    # missing_image / unreadable_image), its other rows are captions_of_dropped_images
    further_rows = sum(1 for r in kept if r.image in failed) - len(failed)
    dropped = bad.resolve(on_bad, source)
    bad.count("captions_of_dropped_images", further_rows)  # after resolve: a consequence, not a problem of its own
    if cut:  # kept, shortened: counted in the report (and so the manifest and card), not dropped
        bad.count("cut_captions", cut)
        log.info("%s: %d caption(s) longer than max_caption_words=%d words were cut to %d%s", source, cut, max_words, max_words,
                 f"; {cut_duplicates} further caption(s) became duplicates once cut (counted as duplicates)" if cut_duplicates else "")
    bad.count("cleaned_captions", 0)
    bad.extend("cleaned_captions", cleaned)  # after resolve: kept (changed), not a problem that stops loading
    if cleaned:
        log.warning("%s: %d caption(s) hold control or bidi characters, which would reach the exported captions and terminals "
                    "raw; each such character was replaced by a space: %s", source, len(cleaned),
                    "; ".join(f"{w} ({c})" for w, c in cleaned[:3]) + (" ..." if len(cleaned) > 3 else ""))
    if further_rows:
        dropped["captions_of_dropped_images"] = further_rows
    kept = [r for r in kept if r.image not in failed]
    if not kept:
        raise DataError(f"{source}: no usable image-caption pair is left")
    split_of = planned if not failed else _assign_splits(kept, sorted({r.image for r in kept}), with_split, split_order,
                                                         test_fraction, seed)
    if split_of is None:
        raise DataError(f"{source}: {len({r.image for r in kept})} image(s) cannot be split into train and test")
    unused_val = len({r.image for r in kept if split_of[r.image] == "val"})
    bad.count("same_image", 0)
    if root is not None:  # from what the opener recorded as it read each image (its own files under root)
        recorded = open_image.files if isinstance(open_image, FileOpener) and open_image.root == root else None
        _refuse_same_images(same_image_groups(root, sorted(n for n in split_of if split_of[n] in ("train", "test")), recorded),
                            split_of, bad, source)
    rows_of = {split: [r for r in kept if split_of[r.image] == split] for split in ("train", "test")}
    for split, rows in rows_of.items():
        if not rows:
            raise DataError(f"{source}: the {split} split is empty after reading "
                            f"({len(kept)} usable captions of {len(split_of)} images)")
    ids_of = {split: sorted({r.image for r in rows}) for split, rows in rows_of.items()}
    images = _split_images(buffers, row_of, ids_of)
    del buffers
    splits = {}
    for split, rows in rows_of.items():
        index = {n: i for i, n in enumerate(ids_of[split])}
        splits[split] = PairSplit(
            images=images.pop(split),
            image_ids=ids_of[split],
            captions=[r.caption for r in rows],
            caption_image=torch.tensor([index[r.image] for r in rows], dtype=torch.long),
            pixel_norm=(tuple(float(v) for v in mean), tuple(float(v) for v in std)),
        )
    return LoadedSplits(splits["train"], splits["test"], dropped, unused_val, bad)


#: bytes of host memory per decoded value that :func:`build_splits` needs: each image is decoded straight into its row of
#: its split's uint8 tensor (8-bit pixels, normalised per batch when read; float32 before session 49: 4 bytes); an image
#: that fails under ``on_bad=skip`` without a ``split`` column can move images between the planned splits, and a split
#: copied anew doubles its share
BYTES_PER_VALUE = 1


def _check_memory(source: str, count: int, size: int, hint: str | None) -> None:
    """DataError, before anything is decoded, when ``count`` RGB images of ``size`` x ``size`` cannot fit as 8-bit
    pixels (:data:`BYTES_PER_VALUE`) in the host's available memory (:func:`mmdistill.memory.host_shortfall`); ``hint``
    names the key that lowers the size (None: fewer images are the way; :func:`~modalities.artifacts.check_images_fit`)."""
    check_images_fit(source, count, (3, size, size), BYTES_PER_VALUE, stored_as="8-bit pixels",
                     lower=f"pass {hint}" if hint else "read fewer images (the image size is the image encoder's input size)")


def _assign_splits(kept: list[CaptionRecord], names: list[str], with_split: list[CaptionRecord], split_order: str,
                   test_fraction: float, seed: int) -> dict[str, str] | None:
    """Image name -> ``train``, ``test`` or ``val`` for the images ``names`` (sorted) of ``kept``: the split the
    records name (``restval`` is train), else the last ``test_fraction`` of the names (sorted, or in the order drawn
    from ``seed``) are test. None when they cannot be split (fewer than two images)."""
    if with_split:
        return {r.image: ("train" if r.split in TRAIN_SPLITS else str(r.split)) for r in kept}
    if split_order == "random":
        order = torch.randperm(len(names), generator=generator(seed, "image_text_split")).tolist()
        names = [names[i] for i in order]
    n_test = min(len(names) - 1, max(1, int(round(len(names) * test_fraction))))
    if n_test < 1:
        return None
    return {n: ("test" if i >= len(names) - n_test else "train") for i, n in enumerate(names)}


def _split_images(buffers: dict[str, Tensor], row_of: Mapping[str, tuple[str, int]],
                  ids_of: Mapping[str, list[str]]) -> dict[str, Tensor]:
    """Each split's images (``ids_of[split]``, in that order) from the planned ``buffers`` they were decoded into
    (``row_of``: image -> (buffer, row); a buffer's rows follow its images' sorted names): the buffer itself when it
    holds exactly them (nothing failed), else the buffer compacted in place when they all lie in it (the rows of failed
    images dropped; no copy of the split), else a new tensor gathered from the buffers (images moved between splits)."""
    in_place: dict[str, str] = {}
    for split, ids in ids_of.items():
        sources = {row_of[n][0] for n in ids}
        if len(sources) == 1 and (source := sources.pop()) not in in_place.values():
            in_place[split] = source
    result: dict[str, Tensor] = {}
    for split, ids in ids_of.items():  # gathered first: a buffer compacted in place no longer holds rows where row_of says
        if split not in in_place:
            some = next(iter(buffers.values()))
            out = torch.empty((len(ids), *some.shape[1:]), dtype=some.dtype)
            for j, name in enumerate(ids):
                source, i = row_of[name]
                out[j].copy_(buffers[source][i])
            result[split] = out
    for split, source in in_place.items():
        buf = buffers[source]
        for j, name in enumerate(ids_of[split]):
            i = row_of[name][1]
            if i != j:  # rows ascend with the names, so i > j: row i is read before anything is written over it
                buf[j].copy_(buf[i])
        n = len(ids_of[split])  # a view keeps its buffer's storage: copied when it would hold more than twice its rows
        result[split] = buf if n == len(buf) else buf[:n] if 2 * n >= len(buf) else buf[:n].clone()
    return result


__all__ = [
    "BadInput", "CaptionRecord", "FileOpener", "ImageFile", "LoadedSplits", "NotAnImageFile", "build_splits", "same_image_groups", "canonical_image_paths", "clean_caption", "file_opener", "replace_controls", "image_to_pixels", "image_to_tensor",
    "read_csv_records", "read_folder_records", "read_json_records", "shapes_records",
]
