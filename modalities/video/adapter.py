"""The video adapter object: load, networks, augmentation, parameterizations, evaluation with stored bytes,
preview and export."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.augment import DSA
from mmdistill.data import LabeledTensors
from mmdistill.errors import ConfigError
from mmdistill.evaluation import EvaluationPlan
from mmdistill.modality import ClassificationData, registration_name
from mmdistill.synthetic import SyntheticSet
from mmdistill.validation import SPLIT_DRAWN_WITH, drawn_by

from ..artifacts import constant_channels
from ..groups import said_group_by
from ..base import TensorClassificationAdapter
from ..in_memory import GIVEN_SPLIT, choices_words, registered_meta
from ..sources import dataset_name, warn_unused_split_config
from .nets import CROSS_ARCH  # registers convnet3d, framepool, framegru, framelstm
from .config import ALIASES, DATASETS, dataset_kind, given_split_number, video_dsa_strategy
from .datasets import VideoSet, from_tensors, load_clip_folder, moving_digits_set
from .decode import VIDEO_EXTENSIONS
from .prepare import decoding_meta
from .sampling import ADDED_FIELDS
from .static_dynamic import init_static_dynamic, is_static_dynamic, render, storage_label, stored_bytes

log = logging.getLogger(__name__)

#: in-memory sets registered by API users (:func:`register_tensors`)
_TENSOR_SETS: dict[str, VideoSet] = {}


def register_tensors(name: str, x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, classes: list[str] | None = None) -> str:
    """Make in-memory clips (N, C, T, H, W) (float in [0, 1] or uint8) and class ids (N,) loadable as
    ``dataset=name``; ``classes``: a list of the K class names (not a single string). Checked and copied (detached)
    by :func:`~.datasets.from_tensors`: later edits of the caller's tensors do not change the registered set."""
    registration_name("register_tensors", name, lambda n: f"{n!r} is a built-in dataset name ({dataset_kind(n)}); choose another"
                      if dataset_kind(n) in DATASETS else None)
    _TENSOR_SETS[name] = from_tensors(x_train, y_train, x_test, y_test, classes, name=name, where=f"register_tensors({name!r})")
    return name


def _moving_digits(cfg: Any) -> VideoSet:
    from .moving_digits import MovingDigitsSpec, parse_digit_groups

    spec = MovingDigitsSpec(train_per_class=cfg.md_train_per_class, test_per_class=cfg.md_test_per_class, frames=cfg.md_frames,
                            size=cfg.md_size, seed=cfg.md_seed, groups=parse_digit_groups(cfg.md_groups))
    return _cached_moving_digits(spec)


_MD_CACHE: dict[Any, VideoSet] = {}


def _cached_moving_digits(spec: Any) -> VideoSet:
    if spec not in _MD_CACHE:
        _MD_CACHE.clear()
        _MD_CACHE[spec] = moving_digits_set(spec)
    return _MD_CACHE[spec]


def video_dataset(name: object) -> str:
    """The dataset ``name`` names: a built-in (:func:`~.config.dataset_kind`: ``Moving_Digits`` is ``moving-digits``) or
    a name given to :func:`register_tensors` (as spelled).

    Raises:
        ConfigError: (key ``dataset``) a path or a video file (say ``--dataset folder --data-root``), or any other name: the closest
            names and the registered ones (:func:`~modalities.sources.dataset_name`), or a value that is not a string.
    """
    kind = dataset_kind(name)
    if kind in DATASETS or (isinstance(name, str) and name in _TENSOR_SETS):
        return str(kind)
    if isinstance(name, str) and Path(name.strip()).suffix.lower() in VIDEO_EXTENSIONS:
        raise ConfigError(f"unknown video dataset {name!r}: it looks like a video file, and dataset names the kind of data, "
                          "data_root where the clips are: pass --dataset folder --data-root <a folder of class folders of clips, "
                          "or a CSV path,label,split>", key="dataset")
    if isinstance(name, str) and name.strip() and _looks_like_path(name.strip()):
        raise ConfigError(f"unknown video dataset {name!r}: it looks like a path, and dataset names the kind of data, data_root "
                          f"where it is: pass --dataset folder --data-root {name.strip()} (video files, or a CSV path,label,split) or "
                          f"--dataset frames --data-root {name.strip()} (a folder of frame images per clip)", key="dataset")
    return dataset_name(name, DATASETS, ALIASES, "video", also=choices_words(_TENSOR_SETS))


def _looks_like_path(name: str) -> bool:
    """Whether a dataset name is a path: it has a folder separator, names a file or folder that exists, or ends in
    ``.csv``."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return (any(s in name for s in seps) or Path(name).expanduser().exists()
            or Path(name).suffix.lower() == ".csv")


#: the keys of the data's meta a synthetic set does not carry: the class names (the set's own ``classes``), every real
#: clip's native size (one entry a clip) and the buffer-matching ``preprocessing`` (its settings are in ``decoding``);
#: every other key (statistics, the load report, the decode settings, the scored split) is the set's, a key added later too
DATA_ONLY_META = frozenset({"classes", "native_sizes", "preprocessing"})


def load_video_set(cfg: Any) -> VideoSet:
    """The :class:`VideoSet` a config names (:func:`video_dataset`)."""
    name = video_dataset(cfg.dataset)
    if getattr(cfg, "group_by", None) and name not in ("folder", "frames"):
        raise ConfigError(f"{said_group_by(cfg.group_by)} reads recordings from clip file names (dataset folder or "
                          f"frames); dataset {cfg.dataset!r} has no files", key="group_by")
    if name == "moving-digits":
        warn_unused_split_config(cfg, str(cfg.dataset), "generated: md_train_per_class and md_test_per_class clips of each class", log)
        return _moving_digits(cfg)
    if name in ("folder", "frames"):
        vs = load_clip_folder(cfg.data_root, kind="files" if name == "folder" else "frames", sampling=cfg.sampling(),
                                split_file=cfg.split_file, test_fraction=cfg.test_fraction, strict=cfg.strict,
                                cache_dir=cfg.cache_dir, use_cache=cfg.cache, split_seed=cfg.split_seed,
                                check_memory=bool(getattr(cfg, "memory_check", True)),
                                progress=bool(getattr(cfg, "progress", False)), group_by=getattr(cfg, "group_by", None),
                                split_number=given_split_number(cfg), validation=getattr(cfg, "validation", None))
        facts = getattr(getattr(vs, "report", None), "facts", {})  # (a stand-in loader: no report)
        if not facts.get("split_drawn", True):  # train/ + test/ folders, a split file, UCF101's lists
            warn_unused_split_config(cfg, str(cfg.dataset), str(facts["layout"]), log)
        return vs
    warn_unused_split_config(cfg, str(cfg.dataset), GIVEN_SPLIT, log)
    return _TENSOR_SETS[name]


def split_drawn_with(cfg: Any, vs: VideoSet) -> dict[str, Any] | None:
    """The keys that drew the test split of ``vs`` (:data:`mmdistill.validation.SPLIT_DRAWN_WITH`, folded into a
    validation split's digest): ``test_fraction`` and ``split_seed`` for class folders (the report's fact
    ``split_drawn``), ``md_seed`` for generated moving digits (the seed that drew every clip, train and test), None for
    a given split (train/ + test/ folders, a split file, UCF101's lists, registered tensors: no ``split_drawn`` fact)."""
    if video_dataset(cfg.dataset) == "moving-digits":
        return {"md_seed": cfg.md_seed}
    return drawn_by(cfg.test_fraction, cfg.split_seed) if getattr(getattr(vs, "report", None), "facts", {}).get("split_drawn") else None


def channel_std(x: Tensor, name: str) -> Tensor:
    """The per-channel std (C,) of clips ``x`` (N, C, T, H, W), 1 for a channel that is constant (std below 1e-6) so
    ``(x - mean) / std`` leaves it near zero instead of multiplying the test clips' differences by 1e6 (as the graph
    loader's ``standard`` scaling does: :func:`~modalities.artifacts.constant_channels`); such channels are named in a
    warning, counted."""
    std, ids = constant_channels(x.std(dim=(0, 2, 3, 4)))
    if ids:
        log.warning("%s: %d of %d channel(s) of the training clips are constant (std < 1e-6): channel(s) %s; kept and "
                    "normalised with std 1 (mean subtracted only)", name, len(ids), len(std), ", ".join(map(str, ids)))
    return std


def normalize(x: Tensor, mean: list[float], std: list[float]) -> Tensor:
    """``(x - mean) / std`` per channel of clips ``x`` (N, C, T, H, W); ``mean`` and ``std`` hold C values."""
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1, 1)
    return (x - m) / s


def denormalize(x: Tensor, mean: list[float], std: list[float]) -> Tensor:
    """``x * std + mean`` per channel: normalised clips (N, C, T, H, W) back to pixel values (the loader's are in
    [0, 1])."""
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1, 1)
    return x * s + m


#: the card's words for a frame_size x frame_size frame by resize mode (a set without ``resize_mode`` was squeezed)
_SHAPED = {"squeeze": "the whole frame squeezed to a square: the aspect ratio is not kept",
           "center_crop": "the short side scaled to it, the long side cut about the centre: the aspect ratio kept",
           "pad": ("the long side scaled to it, the short side padded with black (0), the bars counted in the set's mean and "
                   "std: the aspect ratio kept")}


def _decoding_words(dec: dict) -> str:
    """The decode settings of ``meta["decoding"]`` in a line of the card."""
    size = f"{dec['frame_size']}x{dec['frame_size']} ({_SHAPED.get(str(dec.get('resize_mode', 'squeeze')), '?')})" \
        if dec.get("frame_size") else "the native size"
    timing = (f"by time, each clip resampled to {dec['sample_fps']:g} fps" if dec.get("sample_fps") else
              "by index, whatever the frame rate")
    return (f"{dec.get('num_frames')} frames {dec.get('frame_gap')} apart {timing}, offset "
            f"{dec.get('offset')}, short clips {dec.get('short')}, {size}")


#: what the loader knows of the datasets it makes or reads (folders of clips: whatever their owner states)
DATASET_FACTS = {
    "moving-digits": {"licence": "CC BY 4.0 (generated from the UCI Optical Recognition of Handwritten Digits glyphs bundled "
                      "with scikit-learn)", "licence_id": "cc-by-4.0", "source": "https://archive.ics.uci.edu/dataset/80"},
}


class VideoModality(TensorClassificationAdapter):
    """Clips (C, T, H, W), normalised per channel with training-split statistics (``meta`` ``mean``/``std``).

    Two parameterizations: full clips (``data["x"]``, the video DM / MTT baselines) and static + dynamic
    memory + integrator (:mod:`~mmdistill.modalities.video.static_dynamic`), chosen by
    ``config.parameterization``. Evaluation reports, next to the accuracies, the set's stored bytes and those
    of the same number of full clips (``metrics["storage"]``)."""

    name = "video"
    sample_noun = "clip"
    #: ``cross_arch`` evaluates on the reference's clip networks, not the image list
    cross_arch_networks = CROSS_ARCH

    def load(self, config: Any) -> ClassificationData:
        vs = load_video_set(config)
        mean = vs.x_train.mean(dim=(0, 2, 3, 4)).tolist()
        std = channel_std(vs.x_train, vs.name).tolist()
        meta = {"classes": list(vs.classes), "mean": mean, "std": std, **vs.meta, SPLIT_DRAWN_WITH: split_drawn_with(config, vs)}
        if _TENSOR_SETS.get(vs.name) is vs:  # in memory: a saved set scored in another process names the call
            meta.update(registered_meta("mmdistill.modalities.video.register_tensors", vs.name))
        if vs.report.root or vs.report.facts:  # clips read from files (what was skipped, padded or left out), or
            meta["load_report"] = vs.report.as_dict()  # in-memory ones whose test split lacks a class: in the manifest
        if vs.report.root:
            s = config.sampling()  # what shapes the clips beyond their shape: a buffer trained on clips sampled otherwise is refused
            # resize and sample_fps only when set: a buffer trained before them (squeezed, by index) still matches
            meta["preprocessing"] = {"frame_gap": s.frame_gap, "offset": s.offset, "short": s.short,
                                     **{k: v for k, v in s.settings().items() if k in ADDED_FIELDS}}
            meta["decoding"] = decoding_meta(s, "frames" if dataset_kind(config.dataset) == "frames" else "files")  # for clips_like
        return ClassificationData(
            name=vs.name,
            train=LabeledTensors(normalize(vs.x_train, mean, std), vs.y_train, list(vs.classes)),
            test=LabeledTensors(normalize(vs.x_test, mean, std), vs.y_test, list(vs.classes)),
            meta=meta,
            train_groups=getattr(vs, "train_groups", None),  # recordings: validation= holds them out whole
        )

    def init_synthetic(self, data: ClassificationData, config: Any, gen: torch.Generator) -> SyntheticSet:
        """Full clips (``ipc`` real clips per class or noise), or with ``parameterization="static_dynamic"``
        the static memories distilled from single frames (stage 1) and fresh dynamic memories + integrator."""
        meta = {k: v for k, v in data.meta.items() if k not in DATA_ONLY_META} | {"dataset": data.name}
        if getattr(config, "parameterization", "full") == "static_dynamic":
            frame_aug = DSA(video_dsa_strategy(data.name)) if config.dsa else None
            syn = init_static_dynamic(data.train, config, gen, frame_aug, meta)
        else:
            syn = SyntheticSet.from_real(data.train, config.ipc, gen, init=config.init, meta=meta)
        syn.meta["budget_label"] = storage_label(stored_bytes(syn), config.ipc)  # the bytes the card's Storage section states
        return syn

    def decode(self, syn: SyntheticSet) -> Tensor:
        return render(syn) if is_static_dynamic(syn) else syn.x

    def augmenter(self, strategy: str, dataset: str) -> DSA | None:
        """DSA on clips (every frame of a clip gets its clip's draw); ``auto``: :func:`video_dsa_strategy`."""
        if strategy.lower() in ("", "none"):
            return None
        return DSA(video_dsa_strategy(dataset) if strategy == "auto" else strategy)

    def evaluation_plan(self, config: Any, syn: SyntheticSet | None, data: ClassificationData, device: torch.device) -> EvaluationPlan:
        plan = super().evaluation_plan(config, syn, data, device)
        sample = data.sample_shape
        # classes x ipc float32 clips with their int64 labels: what a random-real subset of the set's size stores
        full = data.num_classes * config.ipc * (int(torch.tensor(sample).prod()) * 4 + 8)
        plan.extra["storage"] = stored_bytes(syn) if syn is not None else {"full_clip_bytes": full}
        plan.extra["storage"]["random_real_bytes"] = full
        return plan

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        from .export import save_video_preview

        return save_video_preview(syn, self.decode(syn).detach().cpu(), path, title=title)

    def preview_words(self, syn: SyntheticSet) -> str:
        """What :meth:`write_preview` draws: the first clip of each class, its frames left to right."""
        from ..artifacts import grid_words

        classes = list(syn.meta.get("classes", [str(i) for i in range(syn.num_classes)]))
        frames = int(self.decode(syn).shape[2])
        static = "its static memory first, then " if is_static_dynamic(syn) else ""
        return (f"{grid_words(syn.labels.cpu(), classes, 1, 'clip')}; each row {static}the clip's {frames} frames left to "
                "right; preview.gif plays the same clips side by side")

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        from .export import export_video_set

        return export_video_set(syn, self.decode(syn).detach().cpu(), out_dir)

    def input_note(self, meta: dict[str, Any]) -> str | None:
        """How the real clips were decoded (``meta["decoding"]``: frames and their spacing, by index or by time, the
        frame size and resize mode), which a consumer's own clips must match; None for clips not read from files
        (moving digits, in-memory tensors)."""
        dec = meta.get("decoding")
        if not isinstance(dec, dict):
            return None
        return (f"the real clips were decoded as {_decoding_words(dec)}; `mmdistill.load(RUN).inputs_like(files)` decodes "
                "your own clips the same way")

    def export_note(self, syn: SyntheticSet) -> str | None:
        """Which files of the export are the data (``clips.safetensors``) and which are for viewing (the GIFs), with the
        share of pixel values clamped and the line that rebuilds the set's inputs from the uint8 clips."""
        raw = denormalize(self.decode(syn).detach().float().cpu(), syn.meta["mean"], syn.meta["std"])  # clips (N, C, T, H, W)
        share = float(((raw < 0) | (raw > 1) | ~torch.isfinite(raw)).float().mean()) if raw.numel() else 0.0
        from .export import timed_frame_ms

        ms = timed_frame_ms(syn)  # None: frames picked by index, shown at the GIF's own speed
        speed = f", each frame shown {ms} ms: the real clips' speed (sample_fps)" if ms is not None else ""
        return (f"The GIFs are for viewing (frames enlarged to at least 64 px, colour reduced to a palette{speed}; numbered per class). "
                "`clips.safetensors` holds the data: `clips` (N, C, T, H, W), the de-normalised pixels clamped to [0, 1] and "
                f"rounded to 8 bits ({100 * share:.1f} % of the set's values lay outside [0, 1]), and `labels` (N,); "
                "`(clips / 255 - mean) / std`, with the statistics above shaped (1, C, 1, 1, 1), gives the set's inputs."
                + (f" Your own test clips as these inputs: `mmdistill.modalities.video.clips_like(mmdistill.load(RUN), files)` "
                   f"decodes them as the loader did ({_decoding_words(syn.meta['decoding'])}) and normalises them."
                   if isinstance(syn.meta.get("decoding"), dict) else ""))

    # ---------------------------------------------------------------- sharing (mmdistill.sharing)
    hf_input_names = {"x": "clip"}
    DATASET_FACTS = DATASET_FACTS

    def hf_columns(self, syn: SyntheticSet, inputs: dict, labels: Tensor, soft_labels: Tensor | None) -> tuple[dict, dict]:
        """``video`` (uint8 pixels (T, H, W, C) per clip, the mean/std undone and clamped to [0, 1], as the GIF
        export) before the exact normalised ``clip`` tensors (C, T, H, W) a model trains on, ``label`` and soft
        labels. A static/dynamic set is shared as its rendered clips (``memories``^2 per slot, each labelled)."""
        from mmdistill.sharing import array_feature

        from .export import to_pixels

        columns, features = super().hf_columns(syn, inputs, labels, soft_labels)
        pix = (to_pixels(inputs["x"], syn) * 255).round().to(torch.uint8).permute(0, 2, 3, 4, 1).contiguous()
        return {"video": list(pix.numpy()), **columns}, {"video": array_feature(tuple(pix.shape[1:]), "uint8"), **features}

    def memorisation_features(self, config: Any, syn_x: Tensor, real_x: Tensor, data: Any) -> tuple[Tensor, Tensor, str]:
        """The embedding of a ConvNet3D built for the clips' shape with a fixed seeded random initialisation
        (``generator(0, "memorisation", "convnet3d")``), read in eval mode in chunks of 64 clips."""
        from mmdistill.nets import reinitialize
        from mmdistill.seeding import generator

        net = self.build_network("convnet3d", tuple(real_x.shape[1:]), int(getattr(data, "num_classes", 10)))
        reinitialize(net, generator(0, "memorisation", "convnet3d"))
        net.eval()

        def embed(x: Tensor) -> Tensor:
            return torch.cat([net.embed(x[s:s + 64].float()).flatten(1) for s in range(0, x.shape[0], 64)])

        with torch.no_grad():
            return embed(syn_x), embed(real_x), "ConvNet3D embedding, fixed seeded random initialisation"

    def inputs_like(self, syn: SyntheticSet, raw: Any, **options: Any) -> Tensor:
        """Your own clips as the set's model inputs, (N, C, T, H, W): :func:`~.prepare.clips_like` (video files or frame
        folders, ``root=``, ``offset=``, ``sampling=``; or sampled clips as a tensor), the sharing hook behind
        ``DistilledSet.inputs_like``."""
        from .prepare import clips_like

        return clips_like(syn, raw, **options)

    def versions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            import decord

            out["decord"] = decord.__version__
        except ImportError:
            out["decord"] = "not installed"
        return out


__all__ = ["VideoModality", "channel_std", "denormalize", "load_video_set", "normalize", "register_tensors", "video_dataset"]
