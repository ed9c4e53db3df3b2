"""Speech Commands and GTZAN through torchaudio's dataset classes: their file lists and official splits as items
(decoded here with soundfile, as every clip)."""

from __future__ import annotations

from pathlib import Path

from mmdistill.errors import DataError

from .items import AudioItem, _path_opener
from .registry import LAYOUTS


def _torchaudio_dataset(key: str, root: Path, download: bool, make):
    try:
        return make("training"), make("testing")
    except Exception as exc:  # noqa: BLE001 - torchaudio raises RuntimeError, URLError, OSError
        detail = " ".join(str(exc).split())[:300]
        action = "could not download" if download else "was not found under"
        raise DataError(f"{key} {action} {root}: {detail}. Expected {LAYOUTS[key]}"
                        f"{'' if download else '; pass download=True (--download) when online'}") from None


def _speechcommands(root: Path, download: bool) -> tuple[list[AudioItem], list[str]]:
    """Speech Commands v0.02 through torchaudio's ``SPEECHCOMMANDS`` file lists (official test list; the
    validation list is left out of training as torchaudio's ``training`` subset does)."""
    from torchaudio.datasets import SPEECHCOMMANDS

    train, test = _torchaudio_dataset("speechcommands", root, download, lambda s: SPEECHCOMMANDS(str(root), download=download and s == "training", subset=s))
    items: list[AudioItem] = []
    for ds, split in ((train, "train"), (test, "test")):
        for n in range(len(ds)):
            rel, _, label, _, _ = ds.get_metadata(n)
            file = Path(ds._archive) / rel  # get_metadata gives the path relative to the archive folder
            items.append(AudioItem(str(file), _path_opener(file), label, split))
    return items, sorted({it.label for it in items if it.split == "train"})


def _gtzan(root: Path, download: bool) -> tuple[list[AudioItem], list[str]]:
    """GTZAN through torchaudio's ``GTZAN`` file lists (its fault-filtered training and testing splits)."""
    from torchaudio.datasets import GTZAN

    train, test = _torchaudio_dataset("gtzan", root, download, lambda s: GTZAN(str(root), download=download and s == "training", subset=s))
    items: list[AudioItem] = []
    for ds, split in ((train, "train"), (test, "test")):
        for fileid in ds._walker:  # "<genre>.<number>"; torchaudio has no public accessor for the path
            genre = fileid.split(".")[0]
            file = Path(ds._path) / genre / f"{fileid}.wav"
            items.append(AudioItem(str(file), _path_opener(file), genre, split))
    return items, sorted({it.label for it in items})

