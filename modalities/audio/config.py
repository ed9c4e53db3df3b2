"""Configuration keys of the audio adapter (shared by every audio recipe) and DDFAD's trajectory defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmdistill.errors import ConfigError
from mmdistill.schema import DistillConfig
from mmdistill.methods.trajectory_keys import TrajectoryConfig

from .decode import ALIGNMENTS
from .features import NORMALIZATIONS, FDMFCCKeys, FDMFCCParams


@dataclass
class AudioDistillConfig(FDMFCCKeys, DistillConfig):
    """``DistillConfig`` plus the audio loader's and the FD-MFCC transform's keys.

    Data: ``dataset`` is ``tones`` (generated, the default), ``fsdd``, ``folder`` (a class-per-folder tree
    or a ``path,label[,split]`` CSV as ``data_root``), ``speechcommands`` or ``gtzan``.
    ``sample_rate`` (Hz) and ``duration`` (s): every clip is resampled and padded/cropped to these; None
    takes the dataset's own (8 kHz / 1 s for FSDD, 16 kHz / 1 s for Speech Commands, 16 kHz / the longest
    clip for a folder). ``align``: ``center`` or ``start`` for the pad/crop. ``strict``: fail on an
    unreadable or empty file instead of skipping it. ``test_fraction``: held-out share per class where the
    data has no split.

    ``derive_deltas``: the synthetic set learns only the MFCC channel (``data["mfcc"]``: (K, n_mfcc, frames))
    and its delta and delta-delta channels are computed from it in every decode, so each distilled map stays
    a consistent FD-MFCC map; False (DDFAD as published) learns the three channels as independent pixels.

    FD-MFCC (see :mod:`mmdistill.modalities.audio.features`; DDFAD's 20 ms frames, otherwise the HTK speech
    front end): ``n_mfcc`` 13 cepstra from ``n_mels`` 40 bands, ``win_ms`` 20 / ``hop_ms`` 10 ms Hamming
    frames, ``n_fft`` (None: next power of two), ``f_min``/``f_max`` Hz, ``preemphasis`` 0.97,
    ``delta_win`` 5 frames, ``top_db`` 80 dB floor.
    """

    dataset: str = "tones"
    sample_rate: int | None = None
    duration: float | None = None
    align: str = "center"
    normalize: str = "channel"
    strict: bool = False
    test_fraction: float = 0.2
    derive_deltas: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.align not in ALIGNMENTS:
            raise ConfigError(f"align must be one of {ALIGNMENTS}, got {self.align!r}")
        if self.duration is not None and not self.duration > 0:
            raise ConfigError(f"duration must be > 0 seconds, got {self.duration}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")
        self.feature_params(self.sample_rate or 16000)  # validates the FD-MFCC keys

    def feature_params(self, sample_rate: int) -> FDMFCCParams:
        """The FD-MFCC parameters of this config at ``sample_rate`` Hz."""
        return FDMFCCParams(sample_rate=sample_rate, **self.feature_keys())


#: MTT's per-IPC trajectory-matching settings (Cazenavette et al., CVPR 2022: CIFAR-10's rows as the MTT/TESLA
#: authors publish them for data without ZCA whitening), which DDFAD applies to FD-MFCC maps.
DDFAD_TRAJECTORY_DEFAULTS: dict[int, dict[str, Any]] = {
    1: {"syn_steps": 50, "expert_epochs": 2, "max_start_epoch": 5, "lr_data": 1000.0, "lr_lr": 1e-07},
    10: {"syn_steps": 30, "expert_epochs": 2, "max_start_epoch": 15, "lr_data": 1000.0, "lr_lr": 1e-05},
    50: {"syn_steps": 30, "expert_epochs": 2, "max_start_epoch": 40, "lr_data": 1000.0, "lr_lr": 1e-05},
}


@dataclass
class DDFADConfig(AudioDistillConfig, TrajectoryConfig):
    """Defaults of DDFAD (Jiang et al., "DDFAD: Dataset Distillation Framework for Audio Data", arXiv
    2407.10446, 2024) for the trajectory-matching recipe ``audio_ddfad``.

    What DDFAD states: FD-MFCC features (MFCC + first- and second-order differences fused as 3 channels),
    distilled with Matching Training Trajectories (MTT), audio rebuilt from the distilled FD-MFCC by
    Griffin-Lim; cross-architecture evaluation. Its tables of hyper-parameters could not be read here, so
    the trajectory settings are MTT's, which DDFAD says it uses:

    * ``syn_steps`` N, ``expert_epochs`` M, ``max_start_epoch``, ``lr_data`` (pixel lr) and ``lr_lr`` per IPC
      (:data:`DDFAD_TRAJECTORY_DEFAULTS`; ``None`` takes the row of the IPC nearest below): IPC 1:
      50 / 2 / 5 / 1000 / 1e-7; IPC 10: 30 / 2 / 15 / 1000 / 1e-5; IPC 50: 30 / 2 / 40 / 1000 / 1e-5.
      Momentum 0.5 on the maps and the step size; ``lr_teacher`` 0.01 initial step size.
    * ``iterations`` 5000; ``batch_syn`` None = the whole synthetic set per student step.
    * Experts: ``num_experts`` 100 × ``expert_train_epochs`` 50, plain SGD at ``lr_teacher`` (no momentum, no
      weight decay); batch ``batch_train`` None = :func:`mmdistill.trajectory.experts_batch` of the training split (256 for large
      sets, smaller for small ones).
    * Real initialisation; DSA while matching, training experts and evaluating (the audio adapter's ``auto``
      strategy on FD-MFCC maps: time/quefrency shift and cutout).
    * Evaluation: 5 networks × 1000 epochs, the learned step size as learning rate; ConvNet-3.
    """

    iterations: int = 5000
    lr_data: float | None = None  # type: ignore[assignment]
    momentum_data: float = 0.5
    init: str = "real"
    dsa: bool = True
    eval_dsa: bool = True
    eval_runs: int = 5
    eval_epochs: int = 1000
    syn_steps: int | None = None  # type: ignore[assignment]
    expert_epochs: int | None = None  # type: ignore[assignment]
    max_start_epoch: int | None = None  # type: ignore[assignment]
    lr_lr: float | None = None  # type: ignore[assignment]
    batch_train: int | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        row = DDFAD_TRAJECTORY_DEFAULTS[max([k for k in DDFAD_TRAJECTORY_DEFAULTS if k <= self.ipc] or [1])]
        for key, value in row.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        super().__post_init__()
        self.check_trajectory()
