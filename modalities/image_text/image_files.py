"""Image files of an image-caption dataset: one name per file (:func:`canonical_image_paths`), what tells files apart
(:class:`ImageFile`) and the groups of names that are one image (:func:`same_image_groups`: a hard link or a
byte-identical copy), the opener that reads each file once (:class:`FileOpener`: never a folder, FIFO or device) and a
PIL image as the encoder's pixels (:func:`image_to_pixels`, :func:`image_to_tensor`)."""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor

from mmdistill.integrity import file_sha256
from mmdistill.words import shown as escaped

from .captions import CaptionRecord
from .data import normalised_pixels

# these lines logged from the loader's module before it was split: they log under its name still
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".loaders")


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
    """The SHA-256 of ``path``'s bytes (hex, :func:`mmdistill.integrity.file_sha256`: 1 MiB blocks); None when it cannot
    be read."""
    try:
        return file_sha256(path)
    except OSError:
        return None


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

    from ..image.decode import to_8bit

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

        from ..image.decode import upright

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
