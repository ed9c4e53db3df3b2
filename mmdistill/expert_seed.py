"""The seed of a buffer's experts: the seed of the first process that trained into the folder.

Every expert of a buffer is seeded by its index from one seed (:mod:`mmdistill.experts`), and a finished buffer
serves runs of any ``--seed`` (one buffer distilled with several seeds is the field's protocol; the run's seed is not
compared with it). A buffer still being trained is shared the same way: the first process to train into a folder
records its seed in :data:`SEED_FILE` (written whole, then linked into place, so of two processes starting at once one
records and the other reads it; removed once the index, which records it too, is written), and every later trainer — a run of another seed, an array task, ``mmdistill experts``
growing the buffer — trains the experts it takes with the recorded seed, saying so. Array jobs of several seeds that
all point at one missing ``--buffer`` therefore share its experts out (each under its claim) instead of meeting each
other's shards and stopping with a mixed buffer (walk 49D).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from mmdistill.atomic import current_umask
from mmdistill.buffer import INDEX_FILE
from mmdistill.json_text import parse_json

log = logging.getLogger(__name__)

#: in a buffer folder: ``{"seed": <int>}``, the seed its experts are trained with
SEED_FILE = ".expert_seed.json"


def _read_seed(path: Path) -> int | None:
    """The seed a buffer's index or seed file records, or None (no file, or one that records none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        log.warning("%s cannot be read (%s); the experts are seeded by this run's seed", path, exc.strerror or exc)
        return None
    try:
        doc = parse_json(text)
    except ValueError:
        doc = None
    held = doc.get("training") if path.name == INDEX_FILE and isinstance(doc, dict) else doc  # the index: under "training"
    seed = held.get("seed") if isinstance(held, dict) else None
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    if path.name == SEED_FILE:
        log.warning("%s records no integer 'seed'; the experts are seeded by this run's seed", path)
    return None


def _record(folder: Path, seed: int) -> int:
    """Record ``seed`` in ``folder``'s :data:`SEED_FILE` unless another process did first; the seed recorded."""
    target = folder / SEED_FILE
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{SEED_FILE}.", suffix=".tmp", dir=folder)
    except OSError:  # a folder this process cannot write: nothing to share, and the training's own writes name it
        return seed
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"seed": seed}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # others training the same buffer (a group's shared folder) read it
        try:
            os.link(tmp, target)  # exclusive and whole: never a half-written seed file
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: exclusive creation, the content written just after
            try:
                with open(target, "x", encoding="utf-8") as fh:
                    json.dump({"seed": seed}, fh)
            except FileExistsError:
                pass
    finally:
        Path(tmp).unlink(missing_ok=True)
    recorded = _read_seed(target)
    return seed if recorded is None else recorded


def buffer_seed(folder: str | Path, asked: int) -> int:
    """The seed to train the experts of the buffer ``folder`` with: its index's (a finished buffer being grown, or one
    finished meanwhile), else the one its first trainer recorded, else ``asked`` (the run's ``--seed``), recorded now.
    A seed other than ``asked`` is logged. ``folder`` must exist. Once the index is written it records the seed and
    :data:`SEED_FILE` goes (:func:`mmdistill.experts.write_index`; here too, for one recorded after that)."""
    folder = Path(folder)
    seed_file = folder / SEED_FILE
    recorded = None
    if not (folder / INDEX_FILE).exists():
        recorded = _read_seed(seed_file) if seed_file.exists() else _record(folder, asked)
    seed, where = _read_seed(folder / INDEX_FILE), "its index"  # last: an index written meanwhile is the record
    if seed is not None or (folder / INDEX_FILE).exists():
        with contextlib.suppress(OSError):  # (a finished buffer in a folder this process cannot write)
            seed_file.unlink(missing_ok=True)
    else:
        seed, where = recorded, f"{SEED_FILE}, written by the first process that trained into it"
    if seed is None:
        return asked
    if seed != asked:
        log.info("the experts in %s are seeded by seed=%d (%s); this process (seed=%d) trains the ones it takes with it, so the "
                 "buffer is the same whichever process trains each expert", folder, seed, where, asked)
    return seed


__all__ = ["SEED_FILE", "buffer_seed"]
