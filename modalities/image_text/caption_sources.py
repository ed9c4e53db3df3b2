"""Caption records from the sources a user names (each record ``(image path, caption, split or None)``; see
:mod:`.loaders`): a CSV (:func:`read_csv_records`), a caption JSON in Karpathy's, BLIP's or COCO's layout
(:func:`read_json_records`), a folder of images with sidecar ``.txt`` captions (:func:`read_folder_records`) and the
generated ``shapes`` (:func:`shapes_records`, no files)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from pathlib import Path

import torch

from mmdistill.csv_lines import line_list, numbered_records, quote_error, refuse_line_breaks
from mmdistill.errors import DataError
from mmdistill.io import decode_utf8
from mmdistill.json_text import parse_json
from mmdistill.seeding import generator

from .captions import BadInput, CaptionRecord

# these lines logged from the loader's module before it was split: they log under its name still
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".loaders")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


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

