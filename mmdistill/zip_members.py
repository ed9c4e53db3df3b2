"""Members of a zip archive read into memory (a MovieLens release, Tiny ImageNet's zip, FSDD's download), their size
checked first.

A zip's central directory declares each member's uncompressed size (``ZipInfo.file_size``) and Python's reader never
returns more than that (it cuts the inflated stream there, then checks the CRC); but a member of a few KiB can declare
gigabytes of a repeated byte (a *zip bomb*), and ``ZipFile.read`` inflated it whole: a received MovieLens zip or Tiny
ImageNet zip exhausted the host's memory before any of it was parsed. :func:`read_zip_member` refuses such a member
from its declared size, before inflating it; :func:`declared_size` is what a whole zip declares (a ``torch.save`` file's
records, which ``torch.load`` inflates: a 66 KiB deflated file loaded 64 MiB).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from mmdistill.errors import DataError
from mmdistill.memory import host_shortfall
from mmdistill.words import shown

#: members declaring at most this many bytes are read without asking the host how much memory is left: asking
#: (:func:`mmdistill.memory.host_shortfall` reads /proc/meminfo, the cgroup files and the rlimits) takes ~0.4-0.6 ms,
#: longer than decoding a 2 KiB Tiny ImageNet JPEG, and Tiny's zip is read one member an image (110,000 probes, ~40 s
#: a load; review R3.1); a process that got this far has 16 MiB to spare
PROBE_FLOOR = 16 * 2**20


def read_zip_member(archive: zipfile.ZipFile, member: str | zipfile.ZipInfo, where: str | Path, limit: int | None = None,
                    what: str = "") -> bytes:
    """The bytes of ``member`` of ``archive`` (``where``: the archive's path, for messages); a :class:`DataError` naming
    the member, unread, when its declared uncompressed size exceeds ``limit`` bytes (the largest such a file can be;
    ``what`` says what the file is for the message) or the memory available to this process. A member that is not there
    is a KeyError, as ``ZipFile.read``'s. The memory is asked only for a member declaring more than :data:`PROBE_FLOOR`."""
    info = member if isinstance(member, zipfile.ZipInfo) else archive.getinfo(member)
    size, packed = info.file_size, info.compress_size
    named = shown(f"{where}:{info.filename}")
    if limit is not None and size > limit:
        raise DataError(f"{named} declares {size / 2**20:.1f} MiB uncompressed ({packed / 2**10:.0f} KiB in the zip), more than the "
                        f"{limit / 2**20:.0f} MiB {what or 'such a file'} can be: not read (a damaged or hostile archive)")
    if size > PROBE_FLOOR and (available := host_shortfall(size)):
        raise DataError(f"{named} declares {size / 2**30:.1f} GiB uncompressed ({packed / 2**10:.0f} KiB in the zip), more than the "
                        f"{available / 2**30:.1f} GiB of memory available here: not read (a larger machine is needed; a small "
                        "archive that declares it is a damaged or hostile one)")
    return archive.read(info)


def declared_size(path: str | Path) -> int | None:
    """The bytes the members of the zip at ``path`` declare uncompressed, in all (what reading them all takes: a ``torch.save``
    file is such a zip, and ``torch.load`` inflates a deflated record whole), or None when ``path`` is not a readable zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return None


__all__ = ["declared_size", "read_zip_member"]
