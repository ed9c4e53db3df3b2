"""Configuration keys of the video adapter (shared by every video recipe) and of the static/dynamic
parameterization.

Sources of the defaults (reference code ``yuz1wan/video_distillation``, Wang et al., CVPR 2024):

* ``distill_utils/dataset.py``: 16 frames (``NUM_FRAMES``), a gap of 4 frames (``FRAME_GAP``), a random start,
  a smaller gap for short clips; UCF101/HMDB51 frames at 112x112, Kinetics-400 at 64x64 with 8 frames
  (``utils.py`` ``get_dataset``; ``sh/s2d/s2d_MTT_ms_K400.sh`` ``--frames 8``).
* ``networks.py`` / ``utils.py``: ConvNet3D is the distillation and evaluation network.
* ``sh/s2d/*.sh``: 2 static and 2 dynamic memories per synthetic clip (``--spc 2 --dpc 2 --vpc 1``,
  ``--spc 10 --dpc 10 --vpc 5``), evaluation 500 epochs x 3 networks, the static memory frozen
  (``--no_train_static``); the per-VPC learning rates are the README's commands
  (:data:`STATIC_DYNAMIC_LRS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mmdistill.errors import ConfigError
from mmdistill.schema import DistillConfig

from .datasets import OFFSETS, SHORT_POLICIES

#: (frames, frame size) of the two kinds of sets of the reference: UCF101/HMDB51-style and Kinetics-style
PRESETS: dict[str, tuple[int, int]] = {"ucf": (16, 112), "kinetics": (8, 64)}
DATASETS = ("moving-digits", "folder", "frames")

#: README of the reference (``bash s2d_DM_ms.sh ... 1e-4 1e-5``, ``s2d_DM_ms_5.sh ... 1e3 1e-6``,
#: ``s2d_MTT_ms.sh ... 1e4 1e-3``, ``s2d_MTT_ms_5.sh`` 1e4 / 1e-3): (stage-2 method, vpc) -> (lr_dynamic, lr_integrator)
STATIC_DYNAMIC_LRS: dict[tuple[str, int], tuple[float, float]] = {
    ("dm", 1): (1e-4, 1e-5), ("dm", 5): (1e3, 1e-6), ("mtt", 1): (1e4, 1e-3), ("mtt", 5): (1e4, 1e-3),
}

#: the CPU budget's rates (100 iterations on moving digits). Measured RMS gradients of the DM loss at the start:
#: dynamic memory 0.007-0.019 (values ~1), integrator weights 55-290 (values ~0.1). lr_dynamic 0.1 with momentum
#: 0.95 moves the memories by ~0.04 per step, the README's integrator rate 1e-5 its weights by ~1e-3; lr_dynamic 5
#: with lr_integrator 1e-2 diverged at iteration 4, lr_dynamic 1 raised the DM loss from 15 to 27 in 20 iterations.
#: MTT keeps the README's rates.
CPU_STATIC_DYNAMIC_LRS: dict[str, tuple[float, float]] = {"dm": (0.1, 1e-5), "mtt": (1e4, 1e-3)}


@dataclass
class VideoDistillConfig(DistillConfig):
    """``DistillConfig`` plus the video loader's keys.

    Data: ``dataset`` is ``moving-digits`` (generated, the default: 10 classes = 5 motions x 2 digit groups,
    8 frames of 32x32, one channel; see :mod:`mmdistill.modalities.video.moving_digits`), ``folder`` (video
    files decoded with decord: ``data_root/<class>/<file>``, ``data_root/train|test/<class>/<file>``, a CSV
    ``path,label,split`` (``data_root`` itself, ``data_root/clips.csv`` or ``split_file``) or UCF101's
    ``trainlist0N.txt`` as ``split_file``), ``frames`` (the same layouts with one folder of frame images per
    clip: the reference's pre-extracted layout), or a name registered with
    :func:`mmdistill.modalities.video.register_tensors` (in-memory clips).

    Sampling: ``num_frames`` frames ``frame_gap`` apart (None: the ``preset``'s frames and gap 4),
    ``offset`` ``random`` (seeded per clip) or ``center``, ``frame_size`` (square resize; None: the preset's;
    0 keeps the native size and refuses mixed sizes), ``short`` for clips shorter than
    ``num_frames x frame_gap``: ``gap`` (the reference's smaller gap), ``pad`` (repeat the last frame) or
    ``skip``. ``preset``: ``ucf`` (16 x 112 x 112) or ``kinetics`` (8 x 64 x 64). ``strict``: an unreadable file
    is an error instead of being skipped and counted. ``cache``: keep decoded clips as uint8 safetensors
    in ``cache_dir`` (default ``~/.cache/mmdistill/video``).

    Moving digits: ``md_train_per_class`` / ``md_test_per_class`` clips, ``md_frames`` x ``md_size``^2.
    """

    dataset: str = "moving-digits"
    network: str = "convnet3d"
    split_file: str | None = None
    preset: str = "ucf"
    num_frames: int | None = None
    frame_gap: int = 4
    frame_size: int | None = None
    offset: str = "random"
    short: str = "gap"
    strict: bool = False
    cache: bool = True
    cache_dir: str | None = None
    test_fraction: float = 0.2
    md_train_per_class: int = 60
    md_test_per_class: int = 30
    md_frames: int = 8
    md_size: int = 32
    eval_epochs: int = 500
    eval_runs: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.preset not in PRESETS:
            raise ConfigError(f"preset must be one of {list(PRESETS)}, got {self.preset!r}")
        if self.offset not in OFFSETS:
            raise ConfigError(f"offset must be one of {OFFSETS}, got {self.offset!r}")
        if self.short not in SHORT_POLICIES:
            raise ConfigError(f"short must be one of {SHORT_POLICIES}, got {self.short!r}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")
        if self.dataset in ("folder", "frames") and not self.data_root:
            raise ConfigError(f"dataset={self.dataset!r} needs --data-root (a folder of clips or a CSV path,label,split)")

    def sampling(self):
        from .datasets import FrameSampling

        frames, size = PRESETS[self.preset]
        size = size if self.frame_size is None else (None if self.frame_size == 0 else self.frame_size)
        return FrameSampling(num_frames=self.num_frames or frames, frame_gap=self.frame_gap, offset=self.offset, short=self.short,
                             frame_size=size, seed=self.seed)


@dataclass
class StaticDynamicKeys:
    """Keys of the static/dynamic parameterization (Wang et al., CVPR 2024), a mixin listed before the
    method's and the modality's config.

    Stage 1 (static memory): ``memories`` still images per synthetic clip (reference ``--spc 2`` at vpc 1),
    distilled from one random frame of each real clip with the core's image matcher ``static_method``
    (``dm``; ``dc`` as the reference README uses) for ``static_iterations`` at ``static_lr``, ConvNet-3 on
    frames; then frozen (``--no_train_static``).

    Stage 2 (dynamic memory + integrator): ``memories`` dynamic memories per clip (``--dpc``) of
    ``dynamic_channels`` (1) x ``dynamic_frames`` x ``dynamic_size``^2 (None: the clip's frames and size, as
    in the reference's ``distill_s2d_ms.py``; smaller values are upsampled trilinearly), combined with a
    static memory by the integrator, one shared 3x3x3 convolution of the static image repeated over time
    concatenated with the dynamic memory (the reference's ``Conv3DNet``, "hallucinator"); ``integrator_init``
    ``random`` (PyTorch's default, the reference) or ``identity`` (the static channels passed through).
    Every static memory of a slot is combined with every dynamic memory of the slot, so a synthetic clip slot
    renders ``memories``^2 clips (the reference draws one of these combinations per step and epoch).
    ``lr_dynamic`` / ``lr_integrator`` None take :data:`STATIC_DYNAMIC_LRS`; SGD momentum 0.95
    (``momentum_data``), as the reference's optimisers.
    """

    memories: int = 2
    static_method: str = "dm"
    static_iterations: int = 1000
    static_lr: float = 1.0
    dynamic_channels: int = 1
    dynamic_frames: int | None = None
    dynamic_size: int | None = None
    integrator_init: str = "random"
    lr_dynamic: float | None = None
    lr_integrator: float | None = None
    momentum_data: float = 0.95

    def check_static_dynamic(self, method: str) -> None:
        if self.memories < 1 or self.dynamic_channels < 1:
            raise ConfigError(f"memories and dynamic_channels must be >= 1, got {self.memories}, {self.dynamic_channels}")
        if self.static_method not in ("dm", "dc"):
            raise ConfigError(f"static_method must be 'dm' or 'dc', got {self.static_method!r}")
        if self.integrator_init not in ("random", "identity"):
            raise ConfigError(f"integrator_init must be 'random' or 'identity', got {self.integrator_init!r}")
        for key in ("dynamic_frames", "dynamic_size"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1 (or None: the clip's), got {getattr(self, key)}")
        vpc = 5 if self.ipc >= 5 else 1  # type: ignore[attr-defined]
        family = "mtt" if method in ("mtt", "tesla") else "dm"
        lr_d, lr_i = STATIC_DYNAMIC_LRS[(family, vpc)]
        if getattr(self, "budget", "paper") == "cpu":
            lr_d, lr_i = CPU_STATIC_DYNAMIC_LRS[family]
        if self.lr_dynamic is None:
            self.lr_dynamic = lr_d
        if self.lr_integrator is None:
            self.lr_integrator = lr_i
        if self.label_mode != "hard":  # type: ignore[attr-defined]
            raise ConfigError("the static/dynamic parameterization supports label_mode=hard only")


def video_dsa_strategy(dataset: str) -> str:
    """DSA's ops for a video set: the image default, without flip and rotate on moving digits (a flip turns
    ``left`` into ``right``, a rotation changes the tilt that separates still frames of ``rotate``)."""
    if dataset.lower() in ("moving-digits", "movingdigits", "moving_digits"):
        return "color_crop_cutout_scale"
    return "color_crop_cutout_flip_scale_rotate"


__all__ = ["CPU_STATIC_DYNAMIC_LRS", "DATASETS", "PRESETS", "STATIC_DYNAMIC_LRS", "StaticDynamicKeys", "VideoDistillConfig", "video_dsa_strategy"]
