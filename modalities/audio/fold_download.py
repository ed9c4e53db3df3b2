"""Fetching a released archive (ESC-50's zip, UrbanSound8K's tar.gz: :data:`~.folds.RELEASES`) and unpacking it into the
data root, for ``download=True``; :func:`fetched_archive` is the fetch FSDD's zip shares. A download that fails
(offline), or that is not the archive it should be (a proxy's page, a cut transfer), is a DataError naming the URL and
the root; the archive is removed either way; a member is written inside the root or refused (:func:`_unpack`)."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmdistill.errors import DataError


@contextmanager
def fetched_archive(title: str, url: str, archive: Path, *, kind: str = "archive",
                    offline: str = "download and unpack the archive there instead",
                    retry: str = "unpack the archive there yourself") -> Iterator[Path]:
    """Download ``url`` to ``archive`` (a file in the data root) and give its path to the block that unpacks it; the
    archive is removed afterwards, whatever happened. The one fetch of FSDD's zip and of the fold sets' releases.

    Raises:
        DataError: a download that fails (offline), naming ``title``, the URL and the root, with ``offline`` (what to do
            instead); an archive the block cannot read (a zip, tar or OS error: a proxy's page, a cut transfer), called
            a ``kind`` that is not readable, with ``retry``.
    """
    from torch.hub import download_url_to_file

    root = archive.parent
    try:
        try:
            download_url_to_file(url, str(archive), progress=True)
        except Exception as exc:  # noqa: BLE001 - URLError, HTTPError, socket errors
            raise DataError(f"could not download {title} from {url} into {root}: {type(exc).__name__}: {exc}. This machine may "
                            f"be offline; {offline}") from None
        try:
            yield archive
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"the {title} download from {url} into {root} is not a readable {kind} ({type(exc).__name__}: "
                            f"{exc}): a proxy's page or a cut download? Try again, or {retry}") from None
    finally:
        archive.unlink(missing_ok=True)


def download_release(title: str, url: str, root: Path) -> None:
    """Download ``url`` into ``root`` and unpack it there (a ``.zip`` or a ``.tar.gz``), then remove the archive
    (:func:`fetched_archive`)."""
    with fetched_archive(title, url, root / url.rsplit("/", 1)[-1]) as archive:
        _unpack(title, url, archive, root)


def _unpack(title: str, url: str, archive: Path, root: Path) -> None:
    """Unpack ``archive`` into ``root`` with the standard library's own guards: a zip's members are written inside
    ``root`` (``zipfile`` drops a leading ``/`` and ``..`` parts); a tar's are checked, every one before anything is
    written, by ``tarfile``'s ``data`` filter (a path outside ``root``, an absolute path, a device file: refused) and
    must be a file or a folder (a link is refused too, as the project writes through no link). DataError naming the
    member; and on a Python whose ``tarfile`` has no filters (before 3.10.12), naming the archive to unpack by hand."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(root)
        return
    if not hasattr(tarfile, "data_filter"):
        raise DataError(f"the {title} archive from {url} is a tar file, and this Python's tarfile has no extraction filters "
                        f"(Python 3.10.12 or later has them) to keep its members inside {root}: not unpacked; unpack it there "
                        "yourself, or use a newer Python")
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            if not (m.isfile() or m.isdir()):
                raise DataError(f"the {title} archive from {url} holds {m.name}, not a file or folder: not unpacked")
            try:
                tarfile.data_filter(m, str(root))
            except tarfile.FilterError as exc:
                raise DataError(f"the {title} archive from {url} holds {m.name!r}, a path outside the data root {root} "
                                f"({exc}): not unpacked") from None
        tf.extractall(root, members=members, filter="data")
