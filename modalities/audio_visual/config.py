"""Configuration keys of the audio-visual adapter (shared by ``audio_visual_dm`` and ``audio_visual_avdd``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from mmdistill.errors import ConfigError
from mmdistill.keys import key
from mmdistill.schema import (AugmentKeys, BatchEvalKeys, DistillConfig, LearnedSetKeys, RealBatchKeys,
                              SplitKeys, ValidationKeys, check_one_network_choice)

from ..audio.config import GeneratedSeedKeys
from ..audio.features import FDMFCCParams
from .data import AVDD_FRAME_MEAN, AVDD_FRAME_STD
from .nets import AVEncoderSpec

#: AVDD's encoders (``nets/audio_net.py``, ``nets/vision_net.py``): the defaults of the encoder keys
AVDD_ENCODERS = AVEncoderSpec()


def _even(n: int) -> int:
    """``n`` or, when odd, ``n + 1``: the FFT size of an ``n``-sample window (the export's waveform rendering,
    :func:`~mmdistill.modalities.audio.features.fdmfcc_to_waveform`, gets one frame too few from an odd FFT)."""
    return n + n % 2


#: AVDD's DSA ops (``main_DM_AV.py --dsa_strategy``), applied to the spectrograms and the frames alike
AVDD_DSA_STRATEGY = "color_crop_cutout_flip_scale_rotate"


@dataclass
class AudioVisualKeys(GeneratedSeedKeys):
    """Paired (frame, log-mel spectrogram) samples: how both sides are read and sized, the encoders and the
    fused evaluation classifier (AVDD's ``ensemble``: a linear head per modality, softmaxes averaged)."""

    image_size: int = key(224, help="side of the square frame every image is resized to (AVDD: 224)", unit="pixels", range="[8, inf)")
    image_channels: Literal["auto", "1", "3"] = key(
        "auto", help="frame channels: auto keeps the data's (grayscale stays 1 channel), 1 grey, 3 RGB")
    sample_rate: int = key(11000, help="every clip is resampled to this rate (files at another rate are counted)", unit="Hz",
                           range="[1000, inf)")
    duration: float = key(1.0, help="every clip is padded or cropped to this length (centred)", unit="s", range="(0, inf)")
    n_mels: int = key(128, help="mel bands of the log-mel spectrogram (AVDD: 128)", unit="bands", range="[4, inf)")
    audio_frames: int = key(56, help="time frames of the log-mel spectrogram (AVDD: 56); the hop is duration / (frames - 1)",
                            unit="frames", range="[4, inf)")
    top_db: float | None = key(None, help="floor of each clip's dB mel spectrogram below its peak; none: no floor (AVDD's "
                               "AmplitudeToDB())", unit="dB", range="(0, inf)")
    front_end: Literal["avdd", "fdmfcc"] = key(
        "avdd", help="the log-mel analysis: avdd, torchaudio's MelSpectrogram defaults as AVDD calls them (Hann window, an FFT "
        "of the window's length, made even); fdmfcc, the audio adapter's (Hamming window, the FFT rounded up to a power of 2)")
    scaling: Literal["avdd", "split"] = key(
        "avdd", help="input scaling: avdd, spectrograms in dB as they are and frames with AVDD's fixed per-channel mean "
        f"{AVDD_FRAME_MEAN} and std {AVDD_FRAME_STD}; split, one mean/std of the training split's dB values and one "
        "per frame channel")
    strict: bool = key(False, help="fail on a clip without an audio track or an unreadable file instead of skipping it")
    group_by: str | None = key(None, help="groups never split (a speaker): dataset csv, a column of the pairs CSV; dataset video, "
                               "a regular expression over each clip's file name (its first capture group names the group: "
                               "spk(\\d+) reads 03 from spk03_take2.mp4), ucf, or folder for <class>/<speaker>/clip.mp4 (a pattern "
                               "with a / reads the path below the class folder); test_fraction of the groups is held out whole, "
                               "drawn with split_seed; none: of each class's pairs")
    depth: int = key(AVDD_ENCODERS.depth, help="blocks of the audio ConvNet encoder (AVDD: 3)", unit="blocks", range="[1, 5]")
    image_depth: int | None = key(AVDD_ENCODERS.image_depth, help="blocks of the frame ConvNet encoder (AVDD: 5, 224 / 2^5 = 7); none: depth",
                                  unit="blocks", range="[1, 5]")
    width: int = key(AVDD_ENCODERS.width, help="channels of each modality's ConvNet encoder (AVDD: 128)", unit="channels", range="[1, inf)")
    embed_grid: int = key(AVDD_ENCODERS.grid, help="each encoder's last pooling is adaptive average pooling to this square grid, so both embeddings "
                          "have width x grid x grid values (AVDD: 7, its audio encoder's last pooling; its frame encoder reaches "
                          "7 x 7 at 224 pixels by plain average pooling, where this is the same); 0: both pooled to the smaller "
                          "of their final maps",
                          unit="cells per side", range="[0, inf)")
    one_channel_padding: int = key(AVDD_ENCODERS.one_channel_padding, help="padding of the first convolution of a 1-channel input (AVDD: 3, DC's MNIST padding "
                                   "kept for every size); 0: the core ConvNet's rule (3 for 28-pixel inputs, else 1)",
                                   unit="pixels", range="[0, inf)")
    eval_lr_audio: float = key(1e-3, help="Adam learning rate of the audio encoder in evaluation (AVDD: 1e-3)", unit="step size",
                               range="(0, inf)", resume=False)
    eval_lr_image: float = key(1e-4, help="Adam learning rate of the frame encoder in evaluation (AVDD: 1e-4)", unit="step size",
                               range="(0, inf)", resume=False)
    eval_lr_head: float = key(1e-3, help="Adam learning rate of the two linear heads in evaluation (AVDD: 1e-3)", unit="step size",
                              range="(0, inf)", resume=False)
    eval_weight_decay: float = key(1e-4, help="Adam weight decay in evaluation (AVDD: 1e-4)", range="[0, inf)", resume=False)
    eval_lr_step: int = key(10, help="evaluation learning rates x0.1 every this many epochs (AVDD: 10; when, eval_lr_schedule)",
                            unit="epochs", range="[1, inf)", resume=False)
    eval_lr_schedule: Literal["avdd", "every"] = key(
        "avdd", help="when the evaluation decays: avdd, after the 0-based epochs step, 2 step, ... below eval_epochs (AVDD's "
        "evaluate_synset_av: after epochs 11 and 21 of 30); every, after every step epochs (after 10 and 20 of 30)",
        resume=False)
    eval_head_init: Literal["avdd", "default"] = key(
        "avdd", help="the evaluation heads' weights: avdd, N(0, 1e-4) (AVDD's weights_init of its classifier, biases "
        "PyTorch's default); default, PyTorch's default initialisation like every other layer. Also the heads of the "
        "network herding selects in (the herding baseline, and the starting pairs with init=herding)", resume=False)
    eval_whole: bool = key(False, help="also train on the whole training split (the upper bound row)", resume=False)
    eval_networks: list[str] = key(factory=list, help="networks the pairs are evaluated on (comma-separated: av-convnet, mlp, lenet, "
                                   "alexnet, vgg11, resnet18; a core network serves as both encoders); empty: av-convnet",
                                   resume=False)
    cross_arch: bool = key(False, help="evaluate on every audio-visual network (av-convnet, mlp, lenet, alexnet, vgg11, resnet18) "
                           "with the same protocol", resume=False)

    def feature_params(self) -> FDMFCCParams:
        """The audio adapter's front end at this config's rate, with the hop and window that give ``audio_frames``
        frames per clip (hop = duration / (frames - 1), window = 2 hops, no pre-emphasis: AVDD's plain log-mel; at AVDD's
        11,000 Hz and 56 frames a 200-sample hop and a 400-sample window, torchaudio's defaults), the window and FFT size
        of ``front_end``."""
        hop_ms = 1000.0 * self.duration / (self.audio_frames - 1)
        avdd = self.front_end == "avdd"
        try:
            params = FDMFCCParams(sample_rate=self.sample_rate, n_mfcc=self.n_mels, n_mels=self.n_mels, win_ms=2 * hop_ms, hop_ms=hop_ms,
                                  preemphasis=0.0, top_db=self.top_db, window="hann" if avdd else "hamming")
            return replace(params, n_fft=_even(params.win_length)) if avdd else params
        except ConfigError as exc:
            raise ConfigError(f"audio keys sample_rate={self.sample_rate}, duration={self.duration}, n_mels={self.n_mels}, "
                              f"audio_frames={self.audio_frames}: {exc}") from None

    def check(self) -> None:
        super().check()
        network = getattr(self, "network", "convnet")
        if str(network).lower() != "convnet":
            raise ConfigError(f"network {network!r}: the audio-visual encoders are the core ConvNet (set --depth, --image-depth and --width instead)")
        from .nets import av_network_name

        check_one_network_choice(self.eval_networks, self.cross_arch)
        for name in self.eval_networks:
            av_network_name(name, key="eval_networks")
        self.feature_params()


@dataclass
class AudioVisualConfig(AudioVisualKeys, AugmentKeys, BatchEvalKeys, ValidationKeys, LearnedSetKeys, RealBatchKeys, SplitKeys,
                        DistillConfig):
    """Defaults of AVDD (Kushwaha et al., "Audio-Visual Dataset Distillation", TMLR 2024; reference code
    sakshamsingh1/AVDD, ``main_DM_AV.py``): 5,000 iterations; SGD momentum 0.5 at 0.2 on both the spectrograms and the
    frames; 128 real pairs per class per iteration; herding initialisation; DSA while matching and evaluating, its
    ``--dsa_strategy`` default on both sides (``auto``: mmdistill's per-side choice, the adapter's); log-mel spectrograms
    by torchaudio's ``MelSpectrogram`` defaults in dB without a floor, not normalised, frames normalised with fixed
    constants (``utils/data_utils.py``, ``preprocess/*_input_file.py``);
    encoders: ConvNets of width 128, audio 3 blocks ending in adaptive 7 x 7 pooling, frames 5 blocks, a 1-channel
    input's first convolution padded by 3 (``nets/audio_net.py``, ``nets/vision_net.py``); evaluation: 5 fused networks x 30 epochs, Adam (audio 1e-3, frames 1e-4, heads 1e-3, weight decay 1e-4), lr x0.1
    after 0-based epochs 10 and 20, heads' weights N(0, 1e-4) (``utils/train_utils_DM.py``, ``nets/__init__.py``), minibatch 32; multi-formation 2 (``train_avdd.sh``'s ``--idm_aug``: four half-size pairs
    in each stored pair, initialised from 4 x IPC herding pairs per class).

    Data: ``dataset`` is ``tones-digits`` (generated tones paired with scikit-learn digits, the default; no files),
    ``csv`` (``data_root`` a CSV ``image_path,audio_path,label,split``), ``video`` (``data_root`` a folder of clips with
    sound: class sub-folders, or a ``clips.csv``/``path,label,split`` file), ``ave``, ``vggsound``, ``vggsound-10k`` or
    ``music-21`` (``data_root`` the release's folder: :mod:`.releases`) or a name registered with
    :func:`~mmdistill.modalities.audio_visual.register_tensors`. ``validation`` (:class:`~mmdistill.schema.ValidationKeys`)
    scores a share of each class's training pairs (whole ``group_by`` groups, UCF-named recordings, pairs that share a
    file) in place of the test pairs: :func:`.data.hold_out_validation`."""

    dataset: str = "tones-digits"
    init: Literal["herding", "real", "noise"] = key("herding", help="initialisation: herding pairs (AVDD), random real pairs, or noise")
    multi_formation: int = key(2, help="each stored pair holds factor x factor downscaled pairs (tiles), decoded by bilinear "
                               "upsampling into factor² pairs of its class for matching and evaluation (the reference "
                               "script's --idm_aug: 2); 1 stores the pairs as they are", unit="factor", range="[1, 4]")
    iterations: int = 5000
    lr_data: float = 0.2
    momentum_data: float = 0.5
    batch_real: int = 128
    dsa: bool = True
    eval_dsa: bool = True
    dsa_strategy: str = AVDD_DSA_STRATEGY
    eval_runs: int = 5
    eval_epochs: int = 30
    eval_batch: int = 32
    eval_vectorize: int = 1
    checkpoint_every: int = 500


__all__ = ["AVDD_DSA_STRATEGY", "AudioVisualConfig", "AudioVisualKeys"]
