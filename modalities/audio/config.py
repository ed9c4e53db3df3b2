"""Configuration keys of the audio adapter (shared by every audio recipe) and DDFAD's trajectory config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mmdistill.errors import ConfigError
from mmdistill.keys import key
from mmdistill.methods.trajectory_keys import ClassificationTrajectoryKeys
from mmdistill.schema import ClassificationConfig, ConfigKeys

from .features import FDMFCCKeys, FDMFCCParams


@dataclass
class GeneratedSeedKeys(ConfigKeys):
    """Which seed draws generated data (the audio ``tones``, the audio-visual ``tones-digits``; other datasets read files)."""

    generated_seed: Literal["split_seed", "seed"] = key(
        "split_seed", help="the seed that draws a generated dataset (tones, tones-digits; the others are read, not drawn): "
        "split_seed, the data a property of the setting like a drawn split, the same for every --seed; seed, each run's "
        "own (sets and checkpoints saved before this key were made so, and keep it)")


@dataclass
class AudioKeys(GeneratedSeedKeys):
    """Audio: decoding, resampling, clip length, normalisation and parameterization of the FD-MFCC maps."""

    sample_rate: int | None = key(None, help="resample every clip to this rate; none: the dataset's own (FSDD 8 kHz, folders 16 kHz, "
                                  "ESC-50 and UrbanSound8K 44.1 kHz)",
                                  unit="Hz", range="[1000, inf)")
    duration: float | None = key(None, help="pad or crop every clip to this length; none: the dataset's own (FSDD 1 s, ESC-50 5 s, "
                                 "UrbanSound8K 4 s, a folder its longest clip)", unit="s", range="(0, inf)")
    align: Literal["center", "start"] = key("center", help="where a clip is padded or cropped")
    normalize: Literal["channel", "coefficient"] = key(
        "channel", help="map normalisation from training statistics: one mean/std per channel, or per channel and coefficient")
    strict: bool = key(False, help="fail on an unreadable or empty file, or a file under a folder root that is not an audio file "
                       "of the layout, instead of skipping it")
    group_by: str | None = key(None, help="groups never split (a speaker), read by what data_root is (dataset folder): a CSV, "
                               "a column of its header row (path,label,speaker); class folders or train/ + test/, a regular "
                               "expression over each clip's file name without its extension whose first capture group names the "
                               "group (spk(\\d+): 03 from spk03_take2.wav), ucf (v_<Class>_g<group>_c<clip>), or folder for "
                               "<class>/<speaker>/take1.wav (a pattern with a / reads the path below the class folder); dataset fsdd: "
                               "speaker (of {digit}_{speaker}_{index}.wav; none: FSDD's own split, takes 0-4 of every speaker "
                               "held out, every speaker in both splits); test_fraction "
                               "of the groups is held out whole, drawn with split_seed, and a given split with a group on both "
                               "sides is refused; none: of each class's clips")
    test_fold: int | None = key(None, help="the official fold held out as the test split of esc50 / esc10 (1-5) or urbansound8k "
                                "(1-10); none: the last fold. The official protocol is cross-validation: run each fold and "
                                "average", range="[1, 10]")
    derive_deltas: bool = key(False, help="learn only the MFCC channel and compute its delta channels in every step")


@dataclass
class AudioDistillConfig(AudioKeys, FDMFCCKeys, ClassificationConfig):
    """The classification keys plus the audio loader's and the FD-MFCC transform's keys.

    Data: ``dataset`` is ``tones`` (generated, the default), ``fsdd``, ``folder`` (a class-per-folder tree
    or a ``path,label[,split]`` CSV as ``data_root``), ``speechcommands``, ``gtzan``, or ``esc50``, ``esc10`` and
    ``urbansound8k`` (their releases, one official fold held out: ``test_fold``), or a name given to
    :func:`mmdistill.modalities.audio.register_tensors` (waveforms in memory).

    ``derive_deltas``: the synthetic set learns only the MFCC channel (``data["mfcc"]``: (K, n_mfcc, frames))
    and its delta and delta-delta channels are computed from it in every decode, so each distilled map stays
    a consistent FD-MFCC map; False (DDFAD as published) learns the three channels as independent pixels.

    FD-MFCC (see :mod:`mmdistill.modalities.audio.features`; DDFAD's 20 ms frames, otherwise the HTK speech
    front end): ``n_mfcc`` 13 cepstra from ``n_mels`` 40 bands, ``win_ms`` 20 / ``hop_ms`` 10 ms Hamming
    frames, ``n_fft`` (None: next power of two), ``f_min``/``f_max`` Hz, ``preemphasis`` 0.97,
    ``delta_win`` 5 frames, ``top_db`` 80 dB floor.
    """

    dataset: str = "tones"

    def check(self) -> None:
        super().check()
        params = self.feature_params(self.sample_rate or 16000)  # the FD-MFCC keys together (n_mfcc <= n_mels, f_max, window)
        if self.duration is not None and params.win_ms > 1000.0 * self.duration:
            raise ConfigError(f"win_ms={params.win_ms:g} is longer than a clip (duration={self.duration:g} s): every analysis "
                              f"frame would be mostly padding; use win_ms <= {1000.0 * self.duration:g} or a longer duration",
                              key="win_ms")

    def feature_params(self, sample_rate: int) -> FDMFCCParams:
        """The FD-MFCC parameters of this config at ``sample_rate`` Hz."""
        return FDMFCCParams(sample_rate=sample_rate, **self.feature_keys())


@dataclass
class DDFADConfig(ClassificationTrajectoryKeys, AudioDistillConfig):
    """Defaults of DDFAD (Jiang et al., "DDFAD: Dataset Distillation Framework for Audio Data", arXiv
    2407.10446, 2024) for the trajectory-matching recipe ``audio_ddfad``.

    What DDFAD states: FD-MFCC features (MFCC + first- and second-order differences fused as 3 channels),
    distilled with Matching Training Trajectories (MTT), audio rebuilt from the distilled FD-MFCC by
    Griffin-Lim; cross-architecture evaluation. Its hyper-parameters could not be read here, so the recipe
    takes MTT's per-IPC rows for data MTT did not distil (CIFAR-10's, ``tables/mtt.yaml``; adopted by
    mmdistill, not by the DDFAD authors): ``syn_steps``, ``expert_epochs``, ``max_start_epoch``, ``lr_data``
    (map lr) and ``lr_lr`` per IPC. Momentum 0.5 on the maps and the step size; ``lr_teacher`` 0.01 initial
    step size; 5,000 iterations; experts: 100 x 50 epochs of plain SGD at ``lr_teacher``, batch
    ``batch_train`` none = sized from the training split (256 for large sets, smaller for small ones);
    real initialisation; DSA while matching, training experts and evaluating (on FD-MFCC maps:
    time/quefrency shift and cutout); evaluation: 5 networks x 1,000 epochs with the learned step size.
    """

    iterations: int = 5000
    momentum_data: float = 0.5
    init: Literal["real", "noise"] = "real"
    dsa: bool = True
    eval_dsa: bool = True
    eval_runs: int = 5
    eval_epochs: int = 1000
    batch_train: int | None = None
