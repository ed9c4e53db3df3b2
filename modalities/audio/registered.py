"""Waveforms held in memory made loadable by name: :func:`register_tensors` checks and copies them; the loader
(:func:`~.datasets.load_audio_dataset`) reads a registered name as it reads a folder's clips (resampled to the config's
``sample_rate``, padded or cropped to its ``duration``, turned into FD-MFCC maps, normalised with the training split's
statistics, the load report counting what it changed). A registration lives in its process: a saved set of it, scored
or loaded in another process, needs the same ``register_tensors`` call there first (the unknown-name error says
``none registered``)."""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass
from typing import Callable

from torch import Tensor

from mmdistill.errors import ConfigError
from mmdistill.modality import registration_name

from ..in_memory import built_in_refusal, checked_splits, waveforms
from .decode import Clip
from .items import AudioItem
from .registry import ALIASES, DATASETS

log = logging.getLogger(__name__)

#: the lowest rate a registration takes (Hz): the file loader's floor (:data:`~.clips.MIN_SAMPLE_RATE`)
MIN_RATE = 100


@dataclass
class TensorClips:
    """A registered set: mono waveforms (N, T) float32 per split, class ids (N,) int64 per split, the K class names and
    the rate (Hz) the waveforms were sampled at."""

    waves: dict[str, Tensor]
    labels: dict[str, Tensor]
    classes: list[str]
    sample_rate: int

    def seconds(self) -> float:
        """The length of the longest waveform of either split, in seconds: the set's clip length unless ``duration`` says."""
        return max(int(w.shape[1]) for w in self.waves.values()) / self.sample_rate

    def items(self, name: str) -> list[AudioItem]:
        """One :class:`AudioItem` a waveform, named ``<name>/<split>/<row>``, opened as its :class:`~.decode.Clip` (no file
        encoded and decoded: the loader resamples, pads and crops it as a file's clip, counting what it changed)."""

        def opener(wave: Tensor) -> Callable[[], Clip]:
            return lambda: Clip(wave.numpy().copy(), self.sample_rate)  # a copy: the loader never reaches the registered set

        return [AudioItem(f"{name}/{split}/{i}", opener(w), self.classes[int(c)], split)
                for split in ("train", "test") for i, (w, c) in enumerate(zip(self.waves[split], self.labels[split]))]


#: in-memory sets registered by API users (:func:`register_tensors`), by name as spelt
_TENSOR_SETS: dict[str, TensorClips] = {}


def register_tensors(name: str, x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor,
                     classes: list[str] | None = None, *, sample_rate: int) -> str:
    """Make in-memory waveforms loadable as ``dataset=name`` by the audio recipes.

    Args:
        name: any non-empty name but a built-in dataset's or an alias's (``us8k``), in any spelling.
        x_train, x_test: mono waveforms (N, T), float amplitudes in [-1, 1] (integer PCM is refused: ``pcm.float() /
            32768`` scales int16; several channels (N, C, T): ``.mean(1)``). Ones beyond [-1, 1] are kept, warned.
        y_train, y_test: integer class ids (N,) 0..K-1, every class in ``y_train`` (:func:`~..artifacts.check_class_ids`).
        classes: a list of the K class names (not a single string); None: ``'0'..'K-1'``.
        sample_rate: the rate the waveforms were sampled at, in Hz (keyword); the recipe's ``sample_rate`` resamples
            them (counted in the load report), its ``duration`` pads or crops them (default: the longest waveform).

    The tensors are checked and copied, detached from autograd: later edits of the caller's tensors do not change the
    registered set. Returns ``name``.

    Raises:
        ConfigError: ``name`` empty, not a string, or a built-in dataset's; ``sample_rate`` not an integer >= 100.
        DataError: a value that is not a tensor, of another shape, dtype or range, or labels that are not class ids.
    """
    where = f"register_tensors({name!r})"
    registration_name("register_tensors", name, lambda n: built_in_refusal(n, DATASETS, ALIASES))
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or sample_rate < MIN_RATE:
        raise ConfigError(f"{where}: sample_rate must be the waveforms' rate in Hz, an integer >= {MIN_RATE}, got {sample_rate!r}")
    waves, labels, names = checked_splits(where, x_train, y_train, x_test, y_test, classes, waveforms, "waveform")
    _TENSOR_SETS[name] = TensorClips(waves, labels, names, int(sample_rate))
    return name


def registered_clips(name: object) -> TensorClips | None:
    """The set registered as ``name`` (as spelt), or None."""
    return _TENSOR_SETS.get(name) if isinstance(name, str) else None


def registered_names() -> list[str]:
    """The names given to :func:`register_tensors` in this process, in order."""
    return list(_TENSOR_SETS)


__all__ = ["MIN_RATE", "TensorClips", "register_tensors", "registered_clips", "registered_names"]
