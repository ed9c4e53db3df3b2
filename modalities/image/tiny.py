"""Tiny ImageNet (``tinyimagenet``) as its release ``tiny-imagenet-200.zip`` (Stanford CS231N) lays it out, unzipped or
not: 200 classes (WordNet ids, ``wnids.txt``) of 64x64 JPEGs, ``train/<wnid>/images/*.JPEG`` (500 a class, with
``<wnid>_boxes.txt``), ``val/images/*.JPEG`` labelled by ``val/val_annotations.txt`` (file, wnid, box; 50 a class) and
``test/images/*.JPEG`` without labels. The training split is ``train/``, the test split ``val/`` (the dataset-distillation
references score on it: DC's and MTT's ``utils.get_dataset``); ``test/`` is never read. Labels follow the sorted wnids
(as ``torchvision.datasets.ImageFolder`` numbers MTT's and TESLA's ``train/`` folders); class names are the first name of
each wnid in ``words.txt`` (``goldfish``), the wnid kept beside them. A ``val/images/<wnid>/`` tree (the val split
sorted into class folders, as MTT's ``ImageFolder(val/images)`` reads it) is read without the annotations file.
Images are decoded by :func:`.decode._read_images` as RGB (a few of the release's JPEGs are greyscale; ImageFolder's
loader reads them as RGB too)."""

from __future__ import annotations

import io
import logging
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import torch

from mmdistill.cache_slots import stat_stamp
from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport
from mmdistill.words import id_list
from mmdistill.zip_members import read_zip_member

from ..artifacts import classes_without_test
from ..sources import root_path
from .decode import FOLDER_BYTES_PER_VALUE, _check_memory, _unit_pixels, decode_files
from .pixel_cache import cached_decode
from .named import Split

log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
ARCHIVE = "tiny-imagenet-200.zip"
#: the release archive's MD5 (248,100,043 bytes), as the Tiny ImageNet loaders of avalanche and others check it
MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
FOLDER = "tiny-imagenet-200"
LAYOUT = (f"ROOT/{FOLDER}/ ({ARCHIVE} unzipped: wnids.txt, words.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG with "
          f"val/val_annotations.txt) or ROOT/{ARCHIVE} itself, from {URL}")
#: the largest file of the release read from its zip (its JPEGs are ~2 KiB, words.txt 2.6 MiB): a member declaring more is
#: refused unread (:func:`mmdistill.zip_members.read_zip_member`)
MAX_MEMBER_BYTES = 64 * 2**20
#: image file suffixes read (the release's are .JPEG)
SUFFIXES = (".jpeg", ".jpg", ".png")


@dataclass
class Release:
    """The release's files, unzipped (``archive`` None; ``base`` the ``tiny-imagenet-200`` folder) or in ``archive``
    (``base`` the archive's path joined with the folder inside it, the names its messages show). ``names``: every file
    under ``base``, relative, POSIX-style."""

    base: Path
    names: list[str]
    archive: zipfile.ZipFile | None = None
    _prefix: str = field(default="", repr=False)
    _set: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._set = set(self.names)

    def text(self, name: str) -> str | None:
        """The UTF-8 text of file ``name`` (relative to ``base``), None when it is not there."""
        if name not in self._set:
            return None
        try:
            raw = (read_zip_member(self.archive, self._prefix + name, self.archive.filename or self.base, MAX_MEMBER_BYTES, "a file of the release")
                   if self.archive is not None else (self.base / name).read_bytes())
            return raw.decode("utf-8")
        except (OSError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {self.base / name}: {exc}") from None

    def open(self, path: Path) -> io.BytesIO:
        """What Pillow opens for ``path`` (``base / name``) of an archive: the member's bytes; DataError naming it."""
        assert self.archive is not None
        try:
            return io.BytesIO(read_zip_member(self.archive, self._prefix + path.relative_to(self.base).as_posix(), self.archive.filename or self.base,
                                              MAX_MEMBER_BYTES, "an image of the release"))
        except (OSError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
            raise DataError(f"cannot read image {path} from the archive (damaged?): {exc}") from None


def find_release(root: object, download: bool = False) -> Release:
    """The release under ``root``: the ``tiny-imagenet-200`` folder itself, a folder holding it or its zip archive, or
    the archive's path. With ``download``, the archive is fetched into ``root`` (MD5-checked) when none is there.
    DataError naming the root and :data:`LAYOUT` otherwise."""
    if root is None or str(root) == "":
        raise DataError(f"dataset 'tinyimagenet' needs a local root: pass data_root (--data-root PATH); expected {LAYOUT}")
    path = root_path(root)
    if path.is_file():
        return _open_archive(path)
    if path.is_dir():
        for folder in (path, path / FOLDER):
            if (folder / "wnids.txt").is_file() or (folder / "train").is_dir():
                return _open_folder(folder)
        if (path / ARCHIVE).is_file():
            return _open_archive(path / ARCHIVE)
    if download:
        return _open_archive(_download(path))
    what = "does not exist" if not path.exists() else "holds no Tiny ImageNet release"
    raise DataError(f"data root {path} {what} (dataset 'tinyimagenet'): expected {LAYOUT}; pass download=True (--download) "
                    f"when online to fetch {ARCHIVE} (about 237 MiB) into it")


def _open_folder(folder: Path) -> Release:
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    return Release(folder, names)


def _open_archive(path: Path) -> Release:
    try:
        archive = zipfile.ZipFile(path)
        members = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable zip archive ({exc}); the release {ARCHIVE} has MD5 {MD5}: delete the "
                        f"file and download it again from {URL} (or pass download=True)") from None
    top = {m.split("/", 1)[0] for m in members if "/" in m}
    prefix = f"{FOLDER}/" if FOLDER in top else (f"{next(iter(top))}/" if len(top) == 1 else "")
    names = sorted(m[len(prefix):] for m in members if m.startswith(prefix))
    return Release(path / prefix.rstrip("/") if prefix else path, names, archive, prefix)


def _download(root: Path) -> Path:
    """``root/tiny-imagenet-200.zip`` fetched by torchvision's ``download_url`` (MD5-checked); DataError naming the URL."""
    from torchvision.datasets.utils import download_url

    from ..sources import made_root

    made_root(root, "tinyimagenet")
    try:
        download_url(URL, str(root), ARCHIVE, MD5)
    except Exception as exc:  # noqa: BLE001 - URLError, HTTP and OS errors, a checksum mismatch (RuntimeError)
        detail = " ".join(str(exc).split())[:300]
        raise DataError(f"could not download {URL} into {root}: {type(exc).__name__}: {detail}. This machine may be offline; "
                        f"copy {ARCHIVE} (or its unzipped folder) there instead, laid out as {LAYOUT}") from None
    return root / ARCHIVE


def _image(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in SUFFIXES and not PurePosixPath(name).name.startswith(".")


def class_names(release: Release, wnids: list[str]) -> list[str]:
    """Each wnid's first name in ``words.txt`` (``n01443537\\tgoldfish, Carassius auratus`` -> ``goldfish``); a name two
    wnids share gets its wnid (``crane (n02012849)``); the wnid itself where words.txt is missing or lacks it (logged)."""
    words: dict[str, str] = {}
    wanted = set(wnids)  # words.txt names all of WordNet's ~82,000 ids
    for line in (release.text("words.txt") or "").splitlines():
        wnid, _, text = line.partition("\t")
        if wnid.strip() in wanted and text.strip():
            words[wnid.strip()] = " ".join(text.split(",")[0].split())
    lacking = [w for w in wnids if w not in words]
    if lacking:
        log.warning("tinyimagenet: %s has no name for %d of the %d wnids (%s); they are named by their wnid", release.base / "words.txt",
                    len(lacking), len(wnids), id_list(lacking, 5))
    names = [words.get(w, w) for w in wnids]
    return [f"{n} ({w})" if names.count(n) > 1 and n != w else n for n, w in zip(names, wnids)]


def _wnids(release: Release) -> list[str]:
    text = release.text("wnids.txt")
    if text is None:
        raise DataError(f"{release.base / 'wnids.txt'} is missing: the release lists its 200 classes there; expected {LAYOUT}")
    wnids = [w.strip() for w in text.splitlines() if w.strip()]
    twice = sorted({w for w in wnids if wnids.count(w) > 1})
    if not wnids or twice:
        raise DataError(f"{release.base / 'wnids.txt'} " + (f"names {id_list(twice, 5)} twice" if twice else "is empty"))
    return sorted(wnids)  # ImageFolder's order (the references' labels), not the file's


def _train(release: Release, wnids: list[str]) -> list[tuple[str, int]]:
    """(file, label) of ``train/<wnid>/**`` images; DataError for a class folder not in wnids.txt or a class without images."""
    index = {w: i for i, w in enumerate(wnids)}
    files = [(n, n.split("/")[1]) for n in release.names if n.startswith("train/") and n.count("/") >= 2 and _image(n)]
    unknown = sorted({w for _, w in files if w not in index})
    if unknown:
        raise DataError(f"{release.base / 'train'} holds {len(unknown)} class folder(s) not in wnids.txt: {id_list(unknown, 5)}")
    counts = {w: 0 for w in wnids}
    for _, w in files:
        counts[w] += 1
    empty = [w for w, n in counts.items() if n == 0]
    if empty:
        raise DataError(f"{release.base / 'train'}: {len(empty)} of the {len(wnids)} classes of wnids.txt have no training images "
                        f"({id_list(empty, 5)}); expected train/<wnid>/images/*.JPEG")
    return [(n, index[w]) for n, w in files]


def _val(release: Release, wnids: list[str]) -> list[tuple[str, int]]:
    """(file, label) of the val split: ``val/images/<file>`` as ``val/val_annotations.txt`` labels them, else a
    ``val/images/<wnid>/`` (or ``val/<wnid>/``) tree. DataError, with counts, for annotations naming a wnid not in
    wnids.txt or a file that is not there, and for val images the annotations do not name."""
    index = {w: i for i, w in enumerate(wnids)}
    images = [n for n in release.names if n.startswith("val/") and _image(n)]
    where = release.base / "val" / "val_annotations.txt"
    text = release.text("val/val_annotations.txt")
    if text is None:
        nested = [(n, n.split("/")[-2]) for n in images if n.split("/")[-2] in index]
        if nested and len(nested) == len(images):
            return [(n, index[w]) for n, w in nested]
        raise DataError(f"{where} is missing: it labels the val split's images (file, wnid, box a line); expected {LAYOUT}"
                        + (f" (val/ holds {len(images)} images)" if images else ""))
    by_name = {PurePosixPath(n).name: n for n in images}
    labelled, unknown, absent = [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("\t")
        if not line.strip():
            continue
        if len(fields) < 2:
            raise DataError(f"{where} line {number}: expected file<TAB>wnid<TAB>box, got {line[:80]!r}")
        name, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in index:
            unknown.append(f"{name} ({wnid}, line {number})")
        elif name not in by_name:
            absent.append(name)
        else:
            labelled.append((by_name.pop(name), index[wnid]))
    if unknown:
        raise DataError(f"{where}: {len(unknown)} image(s) labelled with a wnid not in wnids.txt: {id_list(unknown, 5)}")
    if absent:
        raise DataError(f"{where} names {len(absent)} image(s) not found under {release.base / 'val'}: {id_list(absent, 5)}")
    if by_name:
        raise DataError(f"{release.base / 'val'} holds {len(by_name)} image(s) that {where.name} does not label: "
                        f"{id_list(sorted(by_name), 5)}")
    return sorted(labelled)


def load_tiny(root: object, size: tuple[int, int] | None, channels: int | None, download: bool, report: LoadReport,
              check_memory: bool = True, progress: bool = False, use_cache: bool = True,
              cache_dir: str | Path | None = None) -> tuple[Split, list[str]]:
    """(x_train (N, C, 64, 64) and x_test in [0, 1], their labels, class names, and the wnids in label order): ``train/``
    and ``val/`` of the release under ``root`` (:func:`find_release`), RGB unless ``channels`` says otherwise, resized to
    ``size`` when given. ``report`` records the root, images read otherwise than as stored, and ``test/`` unread. The
    decoded images are cached (:mod:`.pixel_cache`; ``use_cache``, ``cache_dir``), an archive's keyed by the archive's
    own size and times."""
    from .folder import _report

    release = find_release(root, download)
    try:
        wnids = _wnids(release)
        train, test = _train(release, wnids), _val(release, wnids)
        classes = class_names(release, wnids)
        unlabelled = sum(1 for n in release.names if n.startswith("test/") and _image(n))
        if unlabelled:
            log.info("tinyimagenet: %d unlabelled images under %s not read (the test split is val/)", unlabelled, release.base / "test")
            report.facts["unlabelled_not_read"] = f"test/: {unlabelled} images without labels (the test split is val/)"
        files = [release.base / n for n, _ in train + test]
        if check_memory and size is not None:
            _check_memory(len(files), channels or 3, size, f"the images under {release.base}",
                          f"image_size={size[0] if size[0] == size[1] else size}", FOLDER_BYTES_PER_VALUE)
        opener = release.open if release.archive is not None else None
        settings = {"dataset": "tinyimagenet", "image_size": list(size) if size else None, "resize": "squeeze",
                    "channels": channels or 3, "archive": str(release.base) if opener else None}
        # a member of the archive is stamped by the archive itself (any change to the zip misses)
        stamp = (lambda _p, whole=stat_stamp(Path(release.archive.filename)): whole) if opener else stat_stamp
        pixels, notes, altered = cached_decode(
            lambda: decode_files(files, size, channels or 3, check_memory, progress, opener=opener),
            dataset="tinyimagenet", root=release.base, settings=settings, classes=classes,
            files=[(f, label) for f, (_, label) in zip(files, train + test)], n_train=len(train), ignored=[],
            facts=report.facts, use_cache=use_cache, cache_dir=cache_dir, check_memory=check_memory, stamp=stamp)
    finally:
        if release.archive is not None:
            release.archive.close()
    n_tr = len(train)
    x_tr, x_te = _unit_pixels(pixels[:n_tr]), _unit_pixels(pixels[n_tr:])
    del pixels
    y = torch.tensor([label for _, label in train + test], dtype=torch.long)
    classes_without_test("tinyimagenet", classes, y[:n_tr], y[n_tr:], "val/val_annotations.txt names no image of theirs",
                         report, what="image")
    _report(report, release.base, [], notes, altered, name="tinyimagenet")
    return (x_tr, y[:n_tr], x_te, y[n_tr:], classes), wnids
