"""Fetching a released archive (ESC-50's zip, UrbanSound8K's tar.gz: :data:`~.folds.RELEASES`) and unpacking it into the
data root, for ``download=True``. A download that fails (offline), or that is not the archive it should be (a proxy's
page, a cut transfer), is a DataError naming the URL and the root; the archive is removed either way, and a member
whose path would leave the root is refused."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from mmdistill.errors import DataError


def download_release(title: str, url: str, root: Path) -> None:
    """Download ``url`` into ``root`` and unpack it there (a ``.zip`` or a ``.tar.gz``), then remove the archive."""
    from torch.hub import download_url_to_file

    archive = root / url.rsplit("/", 1)[-1]
    try:
        try:
            download_url_to_file(url, str(archive), progress=True)
        except Exception as exc:  # noqa: BLE001 - URLError, HTTPError, socket errors
            raise DataError(f"could not download {title} from {url} into {root}: {type(exc).__name__}: {exc}. This machine may "
                            "be offline; download and unpack the archive there instead") from None
        _unpack(title, url, archive, root)
    finally:
        archive.unlink(missing_ok=True)


def _unpack(title: str, url: str, archive: Path, root: Path) -> None:
    top = root.resolve()
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _inside(top, name, url)
                zf.extractall(root)
        else:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    _inside(top, m.name, url)
                    if not (m.isfile() or m.isdir()):
                        raise DataError(f"the {title} archive from {url} holds {m.name}, not a file or folder: not unpacked")
                tf.extractall(root, members=members, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"the {title} download from {url} into {root} is not a readable archive ({type(exc).__name__}: {exc}): "
                        "a proxy's page or a cut download? Try again, or unpack the archive there yourself") from None


def _inside(top: Path, name: str, url: str) -> None:
    """DataError when the archive member ``name`` would be written outside ``top`` (an absolute path or ``..``)."""
    target = (top / name).resolve()
    if target != top and top not in target.parents:
        raise DataError(f"the archive from {url} holds {name!r}, a path outside the data root {top}: not unpacked")
