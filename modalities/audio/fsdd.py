"""The Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` files in a folder, its ``recordings/`` or the
upstream ``recordings.tar`` (a clip larger than :data:`MAX_FSDD_BYTES` skipped unread, a clip name held twice refused),
takes 0-4 of every speaker and digit the test split (FSDD's own: every speaker is in both splits), or with ``group_by``
``speaker`` (:data:`FSDD_GROUP`) whole speakers held out, drawn later (:func:`~.groups.draw_groups`);
``download=True`` fetches the upstream archive."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Callable

from mmdistill.errors import ConfigError, DataError
from mmdistill.zip_members import read_zip_member

from ..groups import quoted
from .items import AudioItem, _bytes_opener, _path_opener, _raise
from .registry import LAYOUTS

#: the largest FSDD clip read (bytes): the upstream clips are under 40 KB; a larger member or file (a sparse tar member of
#: gigabytes) is skipped as unreadable before it is read
MAX_FSDD_BYTES = 50 * 2**20
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")
#: the one group FSDD's file names give (``{digit}_{speaker}_{index}.wav``): ``group_by='speaker'`` holds out whole speakers
FSDD_GROUP = "speaker"
#: where FSDD's groups come from, in words (messages and the split rule)
FSDD_NAMES = "the speakers of the FSDD file names ({digit}_{speaker}_{index}.wav)"


def fsdd_group_by(group_by: str | None) -> str | None:
    """``group_by`` for FSDD: None (FSDD's own split) or :data:`FSDD_GROUP` (any case, spaces stripped).

    Raises:
        ConfigError: any other value (a pattern, a CSV column), naming the key ``group_by`` and the one value FSDD takes.
    """
    if group_by is None or group_by == "":
        return None
    if group_by.strip().lower() != FSDD_GROUP:
        raise ConfigError(f"group_by={quoted(str(group_by))} (--group-by): dataset 'fsdd' reads its groups from its file names "
                          f"{{digit}}_{{speaker}}_{{index}}.wav, so it takes group_by={FSDD_GROUP!r} (whole speakers held out, "
                          "test_fraction of them, drawn with split_seed) or none (FSDD's own split: takes 0-4 of every speaker "
                          "and digit held out)", key="group_by")
    return FSDD_GROUP


def _fsdd(root: Path, download: bool, strict: bool, group_by: str | None = None) -> tuple[list[AudioItem], list[str]]:
    """FSDD items from a directory of WAVs, ``root/recordings``, or ``recordings.tar`` (``root`` or inside it). With
    ``group_by`` (:data:`FSDD_GROUP`, checked by :func:`fsdd_group_by`) each item's ``group`` is its speaker and its
    split a ``train`` placeholder (the split is drawn by speaker later); a misnamed clip (skipped, unless ``strict``) has
    no group."""
    tar = root if root.is_file() else root / "recordings.tar"
    if tar.is_file():
        named = _fsdd_tar(tar)
    else:
        folder = root / "recordings" if (root / "recordings").is_dir() else root
        named = [(p.name, str(p), _fsdd_file_opener(p)) for p in sorted(folder.glob("*.wav"))]
        if not named and download:
            _download_fsdd(root)
            return _fsdd(root, False, strict, group_by)
        if not named:
            raise DataError(f"no FSDD recordings under {root}: expected {LAYOUTS['fsdd']}; pass download=True (--download) when online")
    items: list[AudioItem] = []
    for base, name, opener in named:
        m = FSDD_NAME.match(base)
        if m is None:
            msg = f"{name} is not named {{digit}}_{{speaker}}_{{index}}.wav"
            if strict:
                raise DataError(f"{msg} (strict mode)")
            items.append(AudioItem(name, _raise(DataError(msg)), "0", "train"))  # reported as skipped
            continue
        if group_by:
            items.append(AudioItem(name, opener, m.group(1), "train", group=m.group(2)))
        else:
            items.append(AudioItem(name, opener, m.group(1), "test" if int(m.group(3)) <= 4 else "train"))
    return items, [str(d) for d in range(10)]



def _too_large(name: str, size: int) -> DataError:
    """The reason an FSDD clip of ``size`` bytes (above :data:`MAX_FSDD_BYTES`) is not read."""
    return DataError(f"audio file {name} is {size / 2**20:.1f} MiB; an FSDD clip is a few KB (at most {MAX_FSDD_BYTES // 2**20} MiB "
                     "is read): not read (a damaged or forged file?)")


def _fsdd_file_opener(path: Path) -> Callable[[], "bytes | str"]:
    """The opener of an FSDD file: its path, or a DataError (the file is skipped as unreadable) when it is larger than
    :data:`MAX_FSDD_BYTES` (a sparse file of gigabytes would be decoded whole)."""
    try:
        size = path.stat().st_size
    except OSError:
        return _path_opener(path)  # a broken link: named when decoded
    return _path_opener(path) if size <= MAX_FSDD_BYTES else _raise(_too_large(str(path), size))


def _fsdd_tar(tar: Path) -> list[tuple[str, str, Callable[[], bytes]]]:
    """(file name, display name, opener) of every ``.wav`` member of the upstream ``recordings.tar``. A member larger
    than :data:`MAX_FSDD_BYTES` is not read (its opener raises: skipped as unreadable, named); two members of one file
    name (in two folders, or the same name stored twice) are a DataError naming them, as one clip read twice could land
    in train and test."""
    out = []
    try:
        with tarfile.open(tar) as tf:
            for member in tf:
                if member.isfile() and member.name.lower().endswith(".wav"):
                    name = f"{tar}:{member.name}"
                    if member.size > MAX_FSDD_BYTES:
                        out.append((Path(member.name).name, name, _raise(_too_large(name, member.size))))
                        continue
                    fh = tf.extractfile(member)
                    out.append((Path(member.name).name, name, _bytes_opener(fh.read() if fh else b"")))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {tar} (not a tar archive, or truncated): {exc}") from None
    if not out:
        raise DataError(f"{tar} holds no .wav files; expected the FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav)")
    members: dict[str, list[str]] = {}
    for base, name, _ in out:
        members.setdefault(base, []).append(name.removeprefix(f"{tar}:"))
    twice = {base: names for base, names in members.items() if len(names) > 1}
    if twice:
        shown = "; ".join(f"{base} ({', '.join(names)})" for base, names in sorted(twice.items())[:5])
        raise DataError(f"{tar}: {len(twice)} clip name(s) are held more than once: {shown}{' ...' if len(twice) > 5 else ''}; "
                        "an FSDD clip is one file (a copy would be read as a second clip, maybe in the other split): keep one of each")
    return sorted(out, key=lambda t: t[0])


def _download_fsdd(root: Path) -> None:
    """Fetch the upstream repository archive and unpack its ``recordings/`` into ``root/recordings``. A download that is
    not a zip archive (a proxy's or captive portal's page, a truncated file) is a DataError naming it; the archive is
    removed either way, and ``recordings/`` is made only from a readable one."""
    import zipfile

    from .fold_download import fetched_archive

    with fetched_archive("FSDD", FSDD_URL, root / "free-spoken-digit-dataset.zip", kind="zip archive",
                         offline=f"put the files there instead as {LAYOUTS['fsdd']}",
                         retry=f"put the files there as {LAYOUTS['fsdd']}") as archive:
        with zipfile.ZipFile(archive) as zf:
            members = [(info, Path(info.filename).parts) for info in zf.infolist()]
            wanted = [(info, parts[-1]) for info, parts in members
                      if len(parts) >= 3 and parts[-2] == "recordings" and parts[-1].endswith(".wav")]
            out = root / "recordings"
            out.mkdir(parents=True, exist_ok=True)
            for info, name in wanted:
                (out / name).write_bytes(read_zip_member(zf, info, archive, MAX_FSDD_BYTES, "an FSDD clip"))
