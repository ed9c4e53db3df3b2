"""Configuration keys of the video adapter (shared by every video recipe) and of the static/dynamic
parameterization.

Sources of the defaults (reference code ``yuz1wan/video_distillation``, Wang et al., CVPR 2024):

* ``distill_utils/dataset.py``: 16 frames (``NUM_FRAMES``), a gap of 4 frames (``FRAME_GAP``), a random start,
  a smaller gap for short clips; UCF101/HMDB51 frames at 112x112, Kinetics-400 at 64x64 with 8 frames
  (``utils.py`` ``get_dataset``; ``sh/s2d/s2d_MTT_ms_K400.sh`` ``--frames 8``).
* ``networks.py`` / ``utils.py``: ConvNet3D is the distillation and evaluation network.
* ``sh/s2d/*.sh``: 2 static and 2 dynamic memories per synthetic clip (``--spc 2 --dpc 2 --vpc 1``,
  ``--spc 10 --dpc 10 --vpc 5``), evaluation 500 epochs x 3 networks, the static memory frozen
  (``--no_train_static``).

The per-VPC learning rates and stage-2 settings of the README's commands are rows of ``recipes/tables/video.yaml``;
the CPU budgets rows of ``recipes/tables/budgets.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mmdistill.errors import ConfigError
from mmdistill.keys import key
from mmdistill.resolve import given_now
from mmdistill.schema import ClassificationConfig, ConfigKeys

#: (frames, frame size) of the two kinds of sets of the reference: UCF101/HMDB51-style and Kinetics-style
PRESETS: dict[str, tuple[int, int]] = {"ucf": (16, 112), "kinetics": (8, 64)}
DATASETS = ("moving-digits", "folder", "frames")
#: other spellings of the built-in names (:func:`dataset_kind`)
ALIASES = {"movingdigits": "moving-digits", "moving_digits": "moving-digits", "moving digits": "moving-digits"}


def dataset_kind(name: object) -> object:
    """The built-in dataset (:data:`DATASETS`) ``name`` spells (stripped, lower-cased, :data:`ALIASES` resolved: ``Moving_Digits``
    is ``moving-digits``), else ``name`` as given (a name given to ``register_tensors``, or one the loader refuses:
    :func:`~.adapter.video_dataset`)."""
    if isinstance(name, str):
        key = name.strip().lower()
        if ALIASES.get(key, key) in DATASETS:
            return ALIASES.get(key, key)
    return name


def given_split_number(cfg: object) -> int | None:
    """``cfg.split_number`` when the user gave it in this invocation (a flag, a YAML file, ``key=value``, a keyword
    argument), else None: HMDB51's split file given as ``split_file`` then reads its own split. A value from a saved
    run's manifest (``eval``, ``check``: :data:`~mmdistill.resolve.SAVED_LAYER`) is not given now: such a run recorded
    the default 1 whatever file it read (:func:`~mmdistill.resolve.given_now`)."""
    return getattr(cfg, "split_number", None) if given_now(cfg, "split_number") else None


@dataclass
class VideoKeys(ConfigKeys):
    """Video: where the clips come from, how frames are sampled from them, and the generated moving digits."""

    HELP_ORDER = 1

    split_file: str | None = key(None, help="a CSV path,label,split, UCF101's trainlist0N.txt, HMDB51's "
                                 "testTrainMulti_7030_splits folder, Kinetics' train.csv (val.csv beside it is the test split) "
                                 "or SSv2's labels folder, naming each clip's split; none: data_root's own layout", path=True)
    split_number: int = key(1, help="which of HMDB51's three official splits (<action>_test_split<N>.txt) its "
                            "split folder as split_file gives; one of its files as split_file: that file's split, and a "
                            "split_number given that differs is refused", range="[1, 3]")
    group_by: str | None = key(None, help="keep each recording's clips on one side of the split: ucf reads the group from UCF101 "
                               "names v_<Class>_g<group>_c<clip>, else a regular expression over file names (its first "
                               "capture group names the recording), or folder for <class>/<actor>/clip.mp4 (a pattern with a / reads the "
                               "path below the class folder); class folders then hold out test_fraction of the groups "
                               "whole (split_seed), and a split file with a group on both sides is refused; none: clip by clip")
    preset: Literal["ucf", "kinetics"] = key("ucf", help="frames and frame size of decoded clips: ucf 16 x 112x112, kinetics 8 x 64x64")
    num_frames: int | None = key(None, help="frames sampled per clip; none: the preset's", unit="frames", range="[1, inf)")
    frame_gap: int = key(4, help="frames between two sampled frames (a smaller gap for short clips with short=gap)", unit="frames",
                         range="[1, inf)")
    frame_size: int | None = key(None, help="square side every frame is resized to; none: the preset's; 0: the native size",
                                 unit="pixels", range="[0, inf)")
    resize: Literal["squeeze", "center_crop", "pad"] = key("squeeze", help="how a frame is made frame_size x frame_size: squeeze "
                                                           "the whole frame (the reference's; the aspect ratio is not kept), "
                                                           "center_crop (the short side scaled to frame_size, the long side cut "
                                                           "about the centre) or pad (the long side scaled, the short side padded "
                                                           "with black (0), counted in the set's mean and std: a "
                                                           "letterbox); needs a frame_size")
    sample_fps: float | None = key(None, help="pick frames by time: each clip resampled to this many frames a second from its "
                                   "file's frame rate, then num_frames frames frame_gap apart, so clips of every frame rate span "
                                   "(num_frames - 1) x frame_gap / sample_fps seconds; none: by index (frame_gap frames of the "
                                   "file apart, whatever its rate); video files only (frame folders have no rate)",
                                   unit="frames per second", range="(0, inf)")
    offset: Literal["random", "center"] = key("random", help="where the sampled frames start in a clip: random (seeded per clip) or center")
    short: Literal["gap", "pad", "skip"] = key("gap", help="clips shorter than (num_frames - 1) x frame_gap + 1 frames: a smaller gap, pad with "
                                               "the last frame, or skip the clip")
    strict: bool = key(False, help="fail on a clip or file that would be left out (unreadable, not part of the layout) or is "
                       "too short (shorter than (num_frames - 1) x frame_gap + 1 frames, whatever short says) instead of skipping, padding "
                       "or shrinking, counting and logging it")
    cache: bool = key(True, help="keep decoded clips as uint8 safetensors in cache_dir (same clips, faster reloads)", resume=False)
    cache_dir: str | None = key(None, help="folder of the decoded-clip cache (and of stage 1's kept static memories, under static/); none: <cache>/video (<cache>: $MMDISTILL_CACHE, else $XDG_CACHE_HOME/mmdistill, else ~/.cache/mmdistill)", resume=False)
    md_train_per_class: int = key(60, help="generated moving-digits training clips per class", unit="clips per class", range="[1, inf)")
    md_test_per_class: int = key(30, help="generated moving-digits test clips per class", unit="clips per class", range="[1, inf)")
    md_frames: int = key(8, help="frames of a generated moving-digits clip", unit="frames", range="[1, inf)")
    md_size: int = key(32, help="side of a generated moving-digits frame", unit="pixels", range="[16, inf)")
    md_seed: int = key(0, help="seed of the generated moving-digits clips, train and test (the benchmark's data); --seed "
                               "draws the distillation (initial clips, experts, evaluation networks), not the data", range="[0, inf)")
    md_groups: str = key("0/1", help="digits of the two appearance groups of the generated moving digits, low/high (e.g. "
                                     "01234/56789, the first design: digits 0-4 against 5-9)")


@dataclass
class VideoDistillConfig(VideoKeys, ClassificationConfig):
    """The classification keys plus the video loader's keys.

    Data: ``dataset`` is ``moving-digits`` (generated, the default: 10 classes = 5 motions x 2 digit groups,
    8 frames of 32x32, one channel; see :mod:`mmdistill.modalities.video.moving_digits`), ``folder`` (video
    files decoded with decord: ``data_root/<class>/<file>``, ``data_root/train|test/<class>/<file>``, a CSV
    ``path,label,split`` (``data_root`` itself, ``data_root/clips.csv`` or ``split_file``) or UCF101's
    ``trainlist0N.txt`` as ``split_file``), ``frames`` (the same layouts with one folder of frame images per
    clip: the reference's pre-extracted layout), or a name registered with
    :func:`mmdistill.modalities.video.register_tensors` (in-memory clips).

    Sampling: ``num_frames`` frames ``frame_gap`` apart (none: the ``preset``'s frames), ``offset``,
    ``frame_size`` (square resize; none: the preset's; 0 keeps the native size and refuses mixed sizes), ``resize``
    (``squeeze``, ``center_crop`` or ``pad``: :mod:`.frame_fit`), ``sample_fps`` (frames by time: :mod:`.sampling`),
    ``short`` for clips shorter than ``(num_frames - 1) x frame_gap + 1 frames``. ``strict``: an unreadable file, a file that is not
    part of the layout or a too-short clip (one ``short`` would skip, pad or shrink) is an error instead of being
    skipped, padded or shrunk and counted.
    ``cache``: decoded clips as uint8 safetensors in ``cache_dir``.
    Evaluation: ConvNet3D, 500 epochs x 3 networks (``sh/s2d/*.sh``).
    """

    dataset: str = "moving-digits"
    network: str = "convnet3d"
    eval_epochs: int = 500
    eval_runs: int = 3

    def check(self) -> None:
        super().check()
        kind = dataset_kind(self.dataset)
        if kind in ("folder", "frames") and not self.data_root:
            raise ConfigError(f"dataset={self.dataset!r} needs --data-root (a folder of clips or a CSV path,label,split)", key="data_root")
        if self.frame_size is not None and 0 < self.frame_size < 4:
            raise ConfigError(f"frame_size={self.frame_size}: expected 0 (the native size), none (the preset's) or at least 4 pixels",
                              key="frame_size")
        if self.resize != "squeeze" and kind not in ("folder", "frames"):
            raise ConfigError(f"resize={self.resize} shapes frames decoded from files (dataset folder or frames); dataset "
                              f"{self.dataset!r} has none: leave resize at squeeze", key="resize")
        if kind in ("folder", "frames"):
            self.sampling()  # FrameSampling's own checks: a resize mode with frame_size 0 (the native size), key resize
        if self.sample_fps is not None and kind != "folder":
            raise ConfigError(f"sample_fps={self.sample_fps:g} picks frames by time from a video file's frame rate; dataset "
                              f"{self.dataset!r} has no frame rate{' (a folder of frame images)' if kind == 'frames' else ''}: "
                              "pick frames by index (frame_gap), or leave sample_fps unset", key="sample_fps")
        if kind == "moving-digits":
            from .moving_digits import parse_digit_groups

            parse_digit_groups(self.md_groups)

    def sampling(self):
        from .datasets import FrameSampling

        frames, size = PRESETS[self.preset]
        size = size if self.frame_size is None else (None if self.frame_size == 0 else self.frame_size)
        return FrameSampling(num_frames=self.num_frames or frames, frame_gap=self.frame_gap, offset=self.offset, short=self.short,
                             frame_size=size, seed=self.seed, resize=self.resize, sample_fps=self.sample_fps)


@dataclass
class StaticDynamicKeys(ConfigKeys):
    """Static/dynamic parameterization (Wang et al., CVPR 2024), a family listed before the method's and the
    modality's config.

    Stage 1 (static memory): ``memories`` still images per synthetic clip (reference ``--spc 2`` at vpc 1),
    distilled from one random frame of each real clip with the core's image matcher ``static_method``
    (``dc``, as the reference README's "Static Learning" uses, with DC's loops; or ``dm``) for ``static_iterations``
    at ``static_lr`` (none: the method's own, DC's 0.1 or DM's 1.0), ConvNet-3 on frames; then frozen
    (``--no_train_static``). Stage 1 runs in the core's loop with its progress kept under ``<cache_dir>/static``
    (``static_cache``; :mod:`.static_stage`).

    Stage 2 (dynamic memory + integrator): ``memories`` dynamic memories per clip (``--dpc``) of
    ``dynamic_channels`` (1) x ``dynamic_frames`` x ``dynamic_size``^2 (none: the clip's frames and size, as
    in the reference's ``distill_s2d_ms.py``; smaller values are upsampled trilinearly), combined with a
    static memory by the integrator, one shared 3x3x3 convolution of the static image repeated over time
    concatenated with the dynamic memory (the reference's ``Conv3DNet``, "hallucinator"); ``integrator_init``
    ``random`` (PyTorch's default, the reference) or ``identity`` (the static channels passed through).
    Every static memory of a slot is combined with every dynamic memory of the slot, so a synthetic clip slot
    renders ``memories``^2 clips. ``lr_dynamic`` / ``lr_integrator``: the README's per method and VPC
    (``tables/video.yaml``); SGD momentum ``momentum_data`` 0.95, as the reference's optimisers. Under MTT/TESLA
    a student step takes, as the reference, each slot once with one random pair of its memories
    (``pairs_per_step=one``; ``batch_syn`` then counts slots), or minibatches of all the rendered clips (``all``).
    """

    HELP_ORDER = 3

    parameterization: Literal["static_dynamic"] = key("static_dynamic", help="the learned set: static memories, dynamic memories "
                                                      "and an integrator (full clips: recipes video-dm, video-mtt)")
    memories: int = key(2, help="static and dynamic memories per synthetic clip slot (reference --spc / --dpc)",
                        unit="memories", range="[1, inf)")
    static_method: Literal["dm", "dc"] = key("dc", help="stage 1: the image matcher that distils the static memories from single "
                                             "frames (dc: the reference README's static learning)")
    static_iterations: int = key(1000, help="stage 1: iterations of the static memories' distillation", unit="iterations",
                                 range="[0, inf)")
    static_lr: float | None = key(None, help="stage 1: learning rate of the static memories; none: the method's own (dc: DC's "
                                  "lr_img 0.1, dm: DM's 1.0)", unit="SGD step size", range="(0, inf)")
    static_cache: bool = key(True, help="stage 1: keep its progress in <cache_dir>/static (a checkpoint every checkpoint_every "
                             "iterations and at a stop), so a --resume, a stopped stage 1 run again or another stage-2 run on the "
                             "same frames and settings continues it instead of distilling the static memories again", resume=False)
    dynamic_channels: int = key(1, help="channels of a dynamic memory", unit="channels", range="[1, inf)")
    dynamic_frames: int | None = key(None, help="frames of a dynamic memory (upsampled to the clip's); none: the clip's",
                                     unit="frames", range="[1, inf)")
    dynamic_size: int | None = key(None, help="side of a dynamic memory's frames (upsampled to the clip's); none: the clip's",
                                   unit="pixels", range="[1, inf)")
    integrator_init: Literal["random", "identity"] = key("random", help="integrator initialisation: random (PyTorch's, the "
                                                         "reference) or identity (the static channels passed through)")
    lr_dynamic: float = key(1e-4, help="stage 2: learning rate of the dynamic memories (tables/video.yaml per method and VPC)",
                            unit="SGD step size", range="(0, inf)")
    lr_integrator: float = key(1e-5, help="stage 2: learning rate of the integrator's weights (tables/video.yaml per method and VPC)",
                               unit="SGD step size", range="(0, inf)")
    momentum_data: float = key(0.95, help="momentum of the SGD over dynamic memories and integrator", range="[0, 1)")
    pairs_per_step: Literal["one", "all"] = key("one", help="stage 2 by MTT/TESLA: each student step takes every slot (batch_syn "
                                                "slots, none: all) with one random static and one random dynamic memory "
                                                "of it (one, the reference) or batch_syn of all the rendered clips (all)")

    def check(self) -> None:
        super().check()
        if getattr(self, "label_mode", "hard") != "hard":
            raise ConfigError("the static/dynamic parameterization supports label_mode=hard only", key="label_mode")


def video_dsa_strategy(dataset: str) -> str:
    """DSA's ops for a video set: the image default, without flip and rotate on moving digits (a flip turns
    ``left`` into ``right``, a rotation changes the tilt that separates still frames of ``rotate``)."""
    if dataset_kind(dataset) == "moving-digits":
        return "color_crop_cutout_scale"
    return "color_crop_cutout_flip_scale_rotate"


__all__ = ["ALIASES", "DATASETS", "PRESETS", "StaticDynamicKeys", "VideoDistillConfig", "VideoKeys", "dataset_kind", "video_dsa_strategy"]
