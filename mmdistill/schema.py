"""The configuration keys of the core, in families a recipe's config composes.

Every recipe config has the run keys (:class:`RunKeys`), the synthetic set's keys (:class:`SetKeys`) and the
evaluation keys every modality shares (:class:`EvaluationKeys`): together :class:`DistillConfig`. What else
it has depends on what applies: a classification modality (image, audio) adds the learned set's SGD
(:class:`LearnedSetKeys`), the networks' evaluation protocol (:class:`NetworkEvalKeys`,
:class:`BatchEvalKeys`), labels (:class:`LabelKeys`), augmentation (:class:`AugmentKeys`, :class:`DCAugmentKeys`) and its held-out
split (:class:`SplitKeys`) — :class:`ClassificationConfig`; a method family adds its keys
(:mod:`mmdistill.methods`); a modality adds its own (``modalities/<name>/config.py``). A graph or image-text
config therefore has no DSA, label or image-evaluation keys.

What the run needs from keys not every config has, it asks through the methods of :class:`ConfigKeys`
(:meth:`~ConfigKeys.matching_augmentation`, :meth:`~ConfigKeys.label_spec`, ...), whose defaults say "none".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

from mmdistill.errors import ConfigError
# the upgrade history, re-exported: what a config saved before a key existed ran with
from mmdistill.key_history import ABSENT_BEFORE, ABSENT_BEFORE_FROM, INHERITED_KEYS, values_before_keys
from mmdistill.keys import Keys, key

#: networks of the papers' cross-architecture tables
CROSS_ARCH_NETWORKS = ["convnet", "mlp", "lenet", "alexnet", "vgg11", "resnet18"]
BASELINES = ("random_real", "herding")


@dataclass(frozen=True)
class LabelSpec:
    """How the synthetic set is labelled: ``hard`` class indices, or ``soft`` / ``learnable`` logits of an
    expert at ``expert_epoch`` (-1: its last), learnable ones moved at learning rate ``lr``."""

    mode: str = "hard"
    expert_epoch: int = -1
    lr: float = 0.0


@dataclass
class ConfigKeys(Keys):
    """Root of the core's key families: the hooks the run asks every config, with their "none" defaults.

    ``REPLACED_KEYS`` maps keys a config does not have to what replaces them there (the error for such a key
    names the replacement)."""

    REPLACED_KEYS: ClassVar[dict[str, str]] = {}
    #: where a family's keys appear in ``--help`` (run keys first, evaluation keys last)
    HELP_ORDER: ClassVar[int] = 5

    def matching_augmentation(self) -> str | None:
        """The augmentation strategy applied while matching (None: no augmentation)."""
        return None

    def label_spec(self) -> LabelSpec:
        """How the synthetic set is labelled (hard labels unless the config has label keys)."""
        return LabelSpec()

    def step_size_lr(self) -> float:
        """The learning rate of learnable student step sizes (trajectory matching), 0 without them."""
        return 0.0

    def learned_lr_evaluation(self) -> bool:
        """Whether evaluation trains on the set with the step size learned with it."""
        return False


@dataclass
class RunKeys(ConfigKeys):
    """Run: data, seed, output, device, budget, iterations and checkpoints."""

    HELP_ORDER: ClassVar[int] = 0

    dataset: str = key("digits", help="the real dataset (a name the modality's loaders know)")
    data_root: str | None = key(None, help="where the dataset lives (folder or file); none: built-in or generated data", path=True)
    download: bool = key(False, help="allow downloading the dataset (or weights) when not found locally", resume=False)
    seed: int = key(0, help="base seed of every random draw (initialisation, iterations, evaluation); not of a held-out split "
                    "drawn from the data (split_seed)", range="[0, inf)")
    out: str | None = key(None, help="run directory; none: runs/<recipe>-<dataset>-<size>-seed<seed>", resume=False)
    device: str = key("auto", help="torch device: auto (a GPU when there is one), cpu, cuda, cuda:1 ...", resume=False)
    budget: str = key("paper", help="paper: the paper's settings; cpu: a CPU-sized run (rows of tables/budgets.yaml)", resume=False)
    network: str = key("convnet", help="the matching network (registry name)")
    iterations: int = key(1000, help="outer iterations of the distillation", unit="iterations", range="[0, inf)", resume=False)
    checkpoint_every: int = key(100, help="iterations between checkpoints", unit="iterations", range="[1, inf)", resume=False)
    checkpoint_minutes: float | None = key(30.0, help="also checkpoint once this much wall time has passed since the last checkpoint "
                                           "(slow iterations on a CPU: a hard kill loses at most about this much); none: "
                                           "only every checkpoint_every iterations", unit="minutes", range="(0, inf)", resume=False)
    evaluate: bool = key(True, help="evaluate the set (and its baselines) when distillation ends", resume=False)
    resume: bool = key(False, help="continue the run in --out from its last checkpoint", resume=False)
    overwrite: bool = key(False, help="start over in an --out that already holds a run", resume=False)
    progress: bool = key(True, help="show progress bars", resume=False)
    memory_check: bool = key(True, help="estimate the peak memory of one iteration before the run (logged) and refuse a run "
                             "whose estimate exceeds the device's memory", resume=False)


@dataclass
class SetKeys(ConfigKeys):
    """The synthetic set: its size and initialisation."""

    HELP_ORDER: ClassVar[int] = 1

    ipc: int = key(10, help="synthetic samples per class", unit="samples per class", range="[1, inf)")
    init: Literal["real", "noise"] = key("real", help="initialisation of the synthetic set: random real samples or noise")


@dataclass
class EvaluationKeys(ConfigKeys):
    """Evaluation: networks trained from scratch on the set, next to baselines of the same size."""

    HELP_ORDER: ClassVar[int] = 8

    eval_runs: int = key(20, help="networks trained from scratch per evaluated set", unit="networks", range="[1, 10000]", resume=False)
    eval_epochs: int = key(300, help="training epochs of each evaluation network", unit="epochs", range="[1, 100000]", resume=False)
    baselines: list[Literal["random_real", "herding"]] = key(
        factory=lambda: list(BASELINES), help="baselines of the same size evaluated next to the set (comma-separated)", resume=False)


@dataclass
class DistillConfig(RunKeys, SetKeys, EvaluationKeys):
    """The keys every distillation recipe has (run, synthetic set, evaluation runs and baselines)."""

    def out_dir(self, recipe: str) -> Path:
        return Path(self.out).expanduser() if self.out else Path("runs") / f"{recipe}-{self.dataset}-ipc{self.ipc}-seed{self.seed}"


@dataclass
class LearnedSetKeys(ConfigKeys):
    """The optimizer of the synthetic samples: SGD with momentum."""

    HELP_ORDER: ClassVar[int] = 2

    lr_data: float = key(0.1, help="learning rate of the synthetic samples", unit="SGD step size", range="(0, inf)")
    momentum_data: float = key(0.5, help="momentum of the synthetic samples' SGD", range="[0, 1)")


@dataclass
class RealBatchKeys(ConfigKeys):
    """The real batch matched per class (gradient and distribution matching)."""

    HELP_ORDER: ClassVar[int] = 3

    batch_real: int = key(256, help="real samples per class per iteration", unit="samples per class", range="[1, inf)")


@dataclass
class ClassShardKeys(ConfigKeys):
    """Class sharding under torchrun, for matchers whose loss is a sum over classes (DM, DC/DSA)."""

    HELP_ORDER: ClassVar[int] = 3

    shard_classes: bool = key(False, help="one work unit per class, each drawn from its own stream (iteration, class): the same "
                              "set on 1 or K torchrun processes, rank r computing the classes c % K == r; required under torchrun")


@dataclass
class RealChunkKeys(ConfigKeys):
    """How many real samples go through the network at a time (speed only) where a matcher batches them."""

    HELP_ORDER: ClassVar[int] = 3

    real_chunk: int | None = key(None, help="real samples per forward/backward of the real side; none: the device's measured "
                                 "default (CPU: 16 28x28-sized samples, mmdistill.chunking; GPU: one batch), 0: one batch. "
                                 "Speed only: the sums are the same", unit="samples", range="[0, inf)", resume=False)


def check_one_network_choice(eval_networks: list[str], cross_arch: bool) -> None:
    """ConfigError when ``eval_networks`` names networks and ``cross_arch`` asks for the whole cross-architecture list:
    the evaluation would take the list and leave the names unused; and when it names one network twice (by the
    registry's rule, case, '-' and '_' ignored): its runs would train twice, and the metrics keep one row per name."""
    if cross_arch and eval_networks:
        raise ConfigError(f"eval_networks={','.join(eval_networks)} and cross_arch=true both choose the evaluation networks "
                          "(cross_arch takes its whole list): set one of them", key="eval_networks")
    if not eval_networks:
        return
    from mmdistill.nets import network_key  # the registry's rule (imports torch: only when networks are named)

    seen: dict[str, str] = {}
    for name in eval_networks:
        if network_key(str(name)) in seen:
            raise ConfigError(f"eval_networks names one network twice: {seen[network_key(str(name))]!r} and {name!r} (names "
                              "are compared without case, '-' and '_'): give each network once", key="eval_networks")
        seen[network_key(str(name))] = name


def chosen_networks(cfg: Any, cross_arch_list: Sequence[str]) -> list[str]:
    """The networks an evaluation was asked for: ``cross_arch_list`` whole with ``cfg.cross_arch``, else
    ``cfg.eval_networks``; empty when neither was given (the caller's default network then: ``... or [default]``)."""
    return list(cross_arch_list) if cfg.cross_arch else list(cfg.eval_networks)


@dataclass
class NetworkEvalKeys(ConfigKeys):
    """Evaluation networks of a classification task (images, audio, graphs)."""

    HELP_ORDER: ClassVar[int] = 8

    eval_lr: float = key(0.01, help="learning rate of the evaluation networks", unit="step size", range="(0, inf)", resume=False)
    eval_networks: list[str] = key(factory=list, help="networks the set is evaluated on (comma-separated); empty: the recipe's evaluation network (the "
                                   "matching network for images, audio and video; eval_network for graphs)",
                                   resume=False)
    cross_arch: bool = key(False, help="evaluate on every network of the papers' cross-architecture tables", resume=False)

    def check(self) -> None:
        super().check()
        check_one_network_choice(self.eval_networks, self.cross_arch)


@dataclass
class BatchEvalKeys(ConfigKeys):
    """Minibatch training of evaluation networks and the herding baseline's network."""

    HELP_ORDER: ClassVar[int] = 8

    eval_batch: int = key(256, help="minibatch of the evaluation networks", unit="samples", range="[1, inf)", resume=False)
    eval_vectorize: int | None = key(None, help="evaluation runs of a set trained together as one vectorised ensemble (networks "
                                     "with BatchNorm or dropout train one at a time; equal per run within float tolerance); none: "
                                     "the device's default (CPU 1: measured no faster there; GPU 10, or eval_runs / processes "
                                     "under torchrun), 1: one at a time", unit="networks", range="[1, inf)", resume=False)
    eval_threads: int | None = key(None, help="evaluation runs trained at the same time on threads, torch's intra-op threads "
                                   "shared among them (networks with dropout train one at a time; each run's numbers are those of "
                                   "a run alone on its share of the threads); none: the device's default (CPU: one per intra-op "
                                   "thread, at most 8; GPU 1), 1: one at a time on all threads", unit="threads", range="[1, inf)",
                                   resume=False)
    herding_epochs: int = key(2, help="epochs of the network whose embedding herding selects in", unit="epochs", range="[0, inf)",
                              resume=False)


SPLIT_SEED_HELP = ("seed of a held-out split drawn from data that has none, a property of the data: the same for every --seed, "
                   "so sets of several seeds are scored on one test split (a set saved before this key was drawn at its seed, "
                   "and keeps that split)")


@dataclass
class SplitKeys(ConfigKeys):
    """The held-out split of data that has none: ``test_fraction`` of it, drawn with ``split_seed`` (not ``seed``:
    the split belongs to the data, and every seed of a sweep is scored on the same held-out samples)."""

    HELP_ORDER: ClassVar[int] = 1

    test_fraction: float = key(0.2, help="held-out share when the data has no test split: of each class, drawn with split_seed "
                               "(classification data), or of the images (image-text pairs: which ones, split_order)",
                               range="(0, 1)")
    split_seed: int = key(0, help=SPLIT_SEED_HELP, range="[0, inf)")


@dataclass
class BufferKeys(ConfigKeys):
    """Where expert trajectories live (trajectory matching; the teachers of soft labels)."""

    HELP_ORDER: ClassVar[int] = 6
    #: whether every run of the recipe reads the buffer (trajectory matching); else only soft or learnable labels do
    READS_BUFFER: ClassVar[bool] = False

    buffer: str | None = key(None, help="directory of an expert buffer (made by `mmdistill experts`); none: <out>/experts", path=True)
    expert_threads: int | None = key(None, help="experts trained at the same time on threads, torch's intra-op threads shared "
                                     "among them (each trajectory is what it is alone on its share of the threads); none: the "
                                     "device's default (CPU: one per intra-op thread, at most 8; GPU 1) where the adapter's experts "
                                     "draw only from their own generators and the network has no dropout, else 1", unit="threads",
                                     range="[1, inf)", resume=False)


@dataclass
class LabelKeys(BufferKeys):
    """Labels of a classification set: hard, or an expert's soft or learnable logits (soft in trajectory matching:
    TESLA's per-iteration assignment, :func:`mmdistill.labels.expert_relabeller`)."""

    HELP_ORDER: ClassVar[int] = 6

    label_mode: Literal["hard", "soft", "learnable"] = key(
        "hard", help="hard: class indices; soft: an expert's logits, not learned (expert 0's at label_expert_epoch; in trajectory "
        "matching (MTT, TESLA) recomputed every iteration by the drawn expert at its target epoch on the current set: TESLA's "
        "--teacher_label); "
        "learnable: expert 0's logits, optimised")
    label_expert_epoch: int = key(-1, help="epoch of expert 0 whose logits label the set (-1: its last); with trajectory matching's "
                                  "soft labels only before the first iteration", unit="epoch", range="[-1, inf)")
    lr_labels: float = key(2.0, help="learning rate of learnable labels", unit="SGD step size", range="(0, inf)")

    def label_spec(self) -> LabelSpec:
        return LabelSpec(self.label_mode, self.label_expert_epoch, self.lr_labels)

    def check(self) -> None:
        super().check()
        if self.buffer and self.label_mode == "hard" and not self.READS_BUFFER:  # a key that does not apply: said, not ignored
            raise ConfigError(f"buffer={self.buffer} is read for an expert's soft or learnable labels (label_mode=soft|learnable); "
                              "with label_mode=hard this recipe reads no expert buffer", key="buffer")


@dataclass
class AugmentKeys(ConfigKeys):
    """Differentiable siamese augmentation (DSA) of classification samples."""

    HELP_ORDER: ClassVar[int] = 4

    dsa: bool = key(False, help="differentiable siamese augmentation while matching")
    dsa_strategy: str = key("auto", help="DSA ops joined by _ (color, crop, cutout, flip, scale, rotate); auto: the adapter's for the dataset (images: the DSA paper's; see each recipe's help)")
    eval_dsa: bool = key(False, help="DSA while training the evaluation networks", resume=False)

    def matching_augmentation(self) -> str | None:
        return self.dsa_strategy if self.dsa else None


@dataclass
class DCAugmentKeys(ConfigKeys):
    """DC's augmentation of the evaluation networks' training batches (:mod:`mmdistill.dc_augment`): per sample, not
    differentiable; DC's reference evaluates MNIST (and ConvNetBN) with it."""

    HELP_ORDER: ClassVar[int] = 8

    eval_dc_augment: Literal["none", "crop_scale_rotate", "crop_noise"] = key(
        "none", help="DC's augmentation while training the evaluation networks (per sample, one of the ops drawn at random, not "
        "differentiable; crop: shift up to 4 px, scale: x0.8 to x1.2, rotate: up to 45 degrees, noise: std 0.001); none: off. "
        "image-dc sets DC's, with 1,000 evaluation epochs: crop_scale_rotate on MNIST, crop_noise with convnetbn "
        "(tables/dc_eval.yaml)", resume=False)

    def check(self) -> None:
        super().check()
        if self.eval_dc_augment != "none" and getattr(self, "eval_dsa", False):
            raise ConfigError(f"eval_dc_augment={self.eval_dc_augment} and eval_dsa=true both augment the evaluation networks' "
                              "batches (DC's reference mutes its own under DSA): set one of them", key="eval_dc_augment")


@dataclass
class ValidationKeys(ConfigKeys):
    """Scoring on a validation split of the training data instead of the test split (for tuning;
    :mod:`mmdistill.validation` carves it: classification data, and an adapter's ``hold_out_validation`` hook)."""

    HELP_ORDER: ClassVar[int] = 8

    validation: float = key(0.0, help="share of each class's training samples held out and scored in place of the test split, "
                            "for tuning without reading the test split (0: score on the test split)", unit="fraction", range="[0, 1)")
    validation_groups: bool = key(True, help="validation holds out whole groups where the data knows them (source recordings, "
                                  "group_by speakers); false: samples drawn one by one, as sets saved before it were", unit="flag")


@dataclass
class ClassSubsetKeys(ConfigKeys):
    """Distilling and scoring a subset of a classification dataset's classes (:func:`mmdistill.validation.keep_classes`)."""

    HELP_ORDER: ClassVar[int] = 8

    classes: list[str] = key(factory=list, help="distil and score only these classes, by name (comma-separated; labels index them in "
                             "the data's class order; normalisation stays the whole training split's); empty: every class")


@dataclass
class ClassificationConfig(LabelKeys, AugmentKeys, DCAugmentKeys, BatchEvalKeys, NetworkEvalKeys, ClassSubsetKeys, ValidationKeys, LearnedSetKeys,
                           SplitKeys, DistillConfig):
    """The keys of a classification modality of fixed-shape samples (images, audio maps)."""

    baselines: list[Literal["random_real", "herding", "whole"]] = key(
        factory=lambda: list(BASELINES), help="baselines evaluated next to the set (comma-separated): random_real and herding "
        "of the same size; whole, the whole training split (the accuracy the set stands in for; not by default: it trains "
        "on every sample)", resume=False)

    def check(self) -> None:
        super().check()
        from mmdistill.nets import check_network_name  # the registry imports torch: only when a config is checked

        check_network_name(self.network, key="network")
        for name in self.eval_networks:
            check_network_name(name, key="eval_networks")


def known_keys() -> set[str]:
    """Every key some imported config family declares (to tell a key that does not apply from a typo)."""
    out: set[str] = set()
    stack: list[type] = [Keys]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if dataclasses.is_dataclass(cls):
            out.update(f.name for f in dataclasses.fields(cls))
    return out


__all__ = ["ABSENT_BEFORE", "ABSENT_BEFORE_FROM", "AugmentKeys", "BASELINES", "BatchEvalKeys", "BufferKeys", "CROSS_ARCH_NETWORKS", "ClassSubsetKeys", "ClassificationConfig", "ConfigKeys", "DCAugmentKeys",
           "DistillConfig", "EvaluationKeys", "LabelKeys", "LabelSpec", "LearnedSetKeys", "NetworkEvalKeys", "RealBatchKeys", "RealChunkKeys",
           "INHERITED_KEYS", "RunKeys", "SPLIT_SEED_HELP", "SetKeys", "SplitKeys", "ValidationKeys", "check_one_network_choice", "chosen_networks", "known_keys",
           "values_before_keys"]
