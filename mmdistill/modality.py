"""The written contract between the core and a modality adapter.

* :class:`Modality`: what every adapter provides to a run (:func:`mmdistill.run.distill`) and to the CLI.
* :class:`ClassificationModality`: adds networks built by name (image, audio, video).
* :class:`TrajectoryModality`: adds the hooks trajectory matching and expert buffers need.
* :class:`AdapterDefaults`: the one mixin holding the default of every optional hook (evaluate through the
  skeleton, fresh expert networks, the experts' optimizer, one trajectory part); adapters inherit it.

The core never imports an adapter directly: a recipe names its modality, and the run and the commands that
start from a saved set (``mmdistill eval``, ``show``, ``export``) look the adapter up by that name with
:func:`get_modality`, which imports ``mmdistill.modalities.<name>`` and takes its ``MODALITY`` object, or loads
the ``mmdistill.modalities`` entry point of an installed package (:mod:`mmdistill.plugins`).
:mod:`mmdistill.adapter_checks` runs an adapter through these protocols: ``tests/test_contracts.py`` every registered
one, a plugin package its own.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from mmdistill.buffer import ParamLayout
from mmdistill.data import ClassificationData
from mmdistill.errors import ConfigError
from mmdistill.evaluation import EvaluationPlan, run_plan
from mmdistill.extras import install_hint
from mmdistill.matchers.trajectory import STEP_SIZE, StudentObjective
from mmdistill.nets import reinitialize
from mmdistill.sharing import ShareableModality, ShareDefaults
from mmdistill.synthetic import SyntheticSet

Augment = Callable[..., Tensor]
"""``aug(x, seed=, groups=None, num_groups=1) -> x``: differentiable; samples of one group share a draw."""

def _packaged_modalities() -> tuple[str, ...]:
    """The packages under ``mmdistill.modalities`` (each holds an adapter, ``MODALITY``), found on disk: a new
    modality's folder is its registration, the core lists no names."""
    spec = importlib.util.find_spec("mmdistill.modalities")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return tuple(sorted(m.name for m in pkgutil.iter_modules(locations) if m.ispkg))


#: packages under ``mmdistill.modalities`` that hold an adapter (``MODALITY``); the contract test runs each
REGISTERED_MODALITIES = _packaged_modalities()


@dataclass(frozen=True)
class TrajectoryPart:
    """A named slice of the flat parameter vector (P,) matched on its own (its normalised distance is one
    term of the loss) with its own learnable step size ``syn.data[step_key]`` (a (1,) tensor), initialised to
    ``initial_step`` (an SGD learning rate)."""

    name: str
    params: slice
    step_key: str
    initial_step: float


@runtime_checkable
class Modality(Protocol):
    """What every adapter provides.

    ``data`` is whatever the adapter's :meth:`load` returns (a :class:`ClassificationData` for image, audio
    and video; a graph, a set of caption pairs, user sequences ... for others); the core passes it back
    untouched.
    """

    name: str
    sample_noun: str  #: what one sample of a set is called on cards and in CLI lines ("image", "clip", "pair", "node", "sequence"; plural + "s")

    def load(self, config: Any) -> Any:
        """Load the real data the config names (``dataset``, ``data_root`` and the modality's own keys)."""
        ...

    def to_device(self, data: Any, device: torch.device) -> Any:
        """The real data with what the matchers read moved to ``device``."""
        ...

    def describe(self, data: Any) -> str:
        """One line about the loaded data for the run's log (sizes, classes, shapes)."""
        ...

    def task(self, config: Any) -> Any:
        """The loss the matchers differentiate (e.g. :class:`~mmdistill.task.ClassificationTask`)."""
        ...

    def init_synthetic(self, data: Any, config: Any, gen: torch.Generator) -> SyntheticSet:
        """The initial synthetic set (real-sample, noise or coreset initialisation, per ``config``)."""
        ...

    def matching_network(self, config: Any, data: Any) -> nn.Module:
        """The network the matchers use (``config.network`` by default)."""
        ...

    def augmenter(self, strategy: str, dataset: str) -> Any:
        """A differentiable augmentation or None; ``strategy="auto"`` asks for the paper's for ``dataset``. The core
        calls it (an :data:`Augment`) on a :class:`ClassificationModality`'s samples; otherwise it only passes it
        back to the adapter's hooks and its recipes' matchers, which may take any object (a pair of augmentations:
        the audio-visual adapter's ``AVAugment``, which is not callable)."""
        ...

    def decode(self, syn: SyntheticSet) -> Any:
        """The model inputs of the synthetic set, differentiably (raw parameterization: ``syn.x``)."""
        ...

    def evaluation_plan(self, config: Any, syn: SyntheticSet | None, data: Any, device: torch.device) -> EvaluationPlan:
        """What to evaluate (:mod:`mmdistill.evaluation`): per network a ``train_and_score(train_set, gen)``
        and the sets — ``distilled`` (when ``syn`` is given) next to the baselines of the same size."""
        ...

    def evaluate(self, config: Any, syn: SyntheticSet | None, data: Any, device: torch.device) -> dict[str, Any]:
        """The metrics block of the manifest: :meth:`evaluation_plan` run by the core skeleton
        (:class:`AdapterDefaults` provides it)."""
        ...

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        """A picture of the set a person can look at."""
        ...

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        """The set in the modality's natural file format."""
        ...

    def versions(self) -> dict[str, str]:
        """Versions of the libraries the adapter uses (recorded in the manifest)."""
        ...

    def check_evaluation(self, config: Any, data: Any) -> None:
        """Raise a ConfigError naming the key when the evaluation ``config`` asks for cannot run on ``data``; the run
        calls it after loading the data, before distilling (:class:`AdapterDefaults`: nothing to check)."""
        ...


@runtime_checkable
class ClassificationModality(Modality, Protocol):
    """An adapter of a classification modality: its data is a :class:`ClassificationData` of fixed-shape
    samples and its networks are built by name."""

    @property
    def cross_arch_networks(self) -> tuple[str, ...]:
        """the networks ``cross_arch`` evaluates on (registry names; the papers' image list,
        :data:`mmdistill.schema.CROSS_ARCH_NETWORKS`, for samples image networks take). Read-only here, so an adapter's
        class attribute ``cross_arch_networks = ("a", "b")`` (a ``tuple[str, str]`` to a type checker) fills it."""
        ...

    def build_network(self, name: str, sample_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
        """A network by registry name; it exposes ``embed(x) -> (N, D)`` and ``forward(x) -> (N, C)``."""
        ...

    def augmenter(self, strategy: str, dataset: str) -> Augment | None:
        """An :data:`Augment` the core calls on the samples, or None (see :meth:`Modality.augmenter`)."""
        ...


@runtime_checkable
class TrajectoryModality(Modality, Protocol):
    """An adapter whose sets can be distilled by trajectory matching (MTT, TESLA) and whose experts the core
    can train. ``net`` is the matching network (or a fresh one of the same architecture)."""

    seeded_experts: bool
    """whether :meth:`train_epoch` draws only from ``gen`` (and the augmentation's seeds from it): then the core
    may train several experts at the same time on threads (``expert_threads``) with the same trajectories"""

    def train_epoch(self, config: Any, net: nn.Module, optimizer: torch.optim.Optimizer, data: Any,
                    augment: Augment | None, gen: torch.Generator) -> float:
        """One epoch of training on the real training split (the experts' protocol); the mean loss."""
        ...

    def score(self, config: Any, net: nn.Module, data: Any) -> float:
        """A held-out score in [0, 1] logged per expert epoch (e.g. test accuracy)."""
        ...

    def student(self, config: Any, net: nn.Module, task: Any, augment: Augment | None) -> StudentObjective:
        """The student's loss on a synthetic minibatch, with parameters passed as tensors."""
        ...

    def fresh_network(self, config: Any, data: Any, gen: torch.Generator) -> nn.Module:
        """An expert's initial network, weights drawn from ``gen``."""
        ...

    def expert_optimizer(self, config: Any, net: nn.Module) -> torch.optim.Optimizer:
        """The experts' optimizer over the trainable parameters of ``net``."""
        ...

    def trajectory_parts(self, config: Any, layout: ParamLayout) -> list[TrajectoryPart]:
        """Slices of the flat parameter vector matched separately, each with its own step size."""
        ...


class AdapterDefaults(ShareDefaults):
    """Defaults of the optional hooks, in one place: adapters inherit this and override what differs.

    * :meth:`evaluate`: the adapter's :meth:`Modality.evaluation_plan` run by the core skeleton;
    * :meth:`check_evaluation`: nothing to check (a classification adapter checks its evaluation networks);
    * :meth:`hold_out_validation`: ``validation=`` carved by the core from :class:`ClassificationData`, refused for other data;
    * :meth:`fresh_network`: the matching network re-initialised from ``gen`` (a pretrained encoder overrides
      this to copy its weights instead);
    * :meth:`expert_optimizer`: MTT's SGD (``lr_teacher``, ``momentum_teacher``, ``weight_decay_teacher``)
      over the trainable parameters;
    * :meth:`trajectory_parts`: one part (the whole vector) with one step size ``syn_lr`` (MTT), starting at ``lr_student``
      (else ``lr_teacher``);
    * the sharing hooks (:mod:`mmdistill.sharing`): model inputs, a Dataset view, Hugging Face columns, the
      memorisation check's views, what the loader knows of a source dataset.
    """

    seeded_experts: bool = False
    """see :class:`TrajectoryModality`; an adapter opts in when its ``train_epoch`` draws only from its generator"""
    sample_noun: str = "sample"
    """see :class:`Modality`"""
    merge_inputs: tuple[str, ...] = ("x",)
    """the stored tensors (``SyntheticSet.data``) that are one raw model input per sample, as ``mmdistill merge`` joins them
    (each converted with the statistics ``normalization(meta)`` gives under its name); a set storing anything else
    (factors, a generator) beside its learned step sizes is refused"""
    merge_by_class: bool = True
    """whether ``mmdistill merge`` joins the sets class by class (by name); False: sets of one unnamed class (image-text
    pairs), whose samples it keeps in the parts' order"""
    merge_extra_keys: tuple[str, ...] = ()
    """stored tensors besides ``merge_inputs`` and step sizes that the adapter's ``merge_extras(meta, syns) -> (meta,
    tensors)`` hook joins (LoRS's similarity); the hook also gives the merged set's meta from the data's"""
    def merged_config(self, syn: Any) -> dict[str, Any]:
        """Config keys sizing tensors that ``mmdistill merge`` joins beside the samples, as the merged set ``syn`` holds
        them (image-text: LoRS's ``sim_rank``, the sum of the parts'), recorded in its config in place of the first
        part's values so that what reads the config (``--config DIR``, the card) agrees with the tensors; ``ipc`` is
        set by merge itself. None by default."""
        return {}

    merge_refusal: str = ""
    """why ``mmdistill merge`` cannot join this adapter's sets and what to do instead (one sentence or two), or "" when it can"""
    merge_meta_keys: tuple[str, ...] = ()
    """``synthetic.meta`` fields that say how the stored inputs were made and decode (feature parameters, a tiling
    factor): ``mmdistill merge`` refuses a part whose value differs from the data's, naming the field"""

    def matching_network(self, config: Any, data: Any) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must define matching_network(config, data)")

    def evaluation_plan(self, config: Any, syn: SyntheticSet | None, data: Any, device: torch.device) -> EvaluationPlan:
        raise NotImplementedError(f"{type(self).__name__} must define evaluation_plan(config, syn, data, device)")

    def evaluate(self, config: Any, syn: SyntheticSet | None, data: Any, device: torch.device) -> dict[str, Any]:
        return run_plan(self.evaluation_plan(config, syn, data, device))

    def check_evaluation(self, config: Any, data: Any) -> None:
        """Raise a ConfigError naming the key when the evaluation ``config`` asks for cannot run on ``data`` (a
        network that does not take its samples); the run calls it after loading the data, before distilling."""

    def hold_out_validation(self, data: Any, fraction: float, by_groups: bool = True) -> Any:
        """``data`` with ``fraction`` of its training split held out and scored in place of its test split (``validation=``,
        for a config with :class:`~mmdistill.schema.ValidationKeys`; :func:`mmdistill.validation.load_data` calls it):
        the core's :func:`~mmdistill.validation.hold_out_validation` for :class:`ClassificationData`, else a ConfigError
        naming the key. An adapter of other labelled data overrides it with :func:`~mmdistill.validation.draw_validation`
        (the core's rules: per class, whole groups where known, one fixed stream) and
        :func:`~mmdistill.validation.validation_meta` (``meta["scored_on"] = "validation"``, which its evaluation
        protocol records as ``scored_on``), as the audio-visual adapter does. ``by_groups`` false
        (``validation_groups=false``): samples drawn one by one even where the data knows their groups."""
        from mmdistill.validation import hold_out_validation

        return hold_out_validation(data, fraction, by_groups)

    def fresh_network(self, config: Any, data: Any, gen: torch.Generator) -> nn.Module:
        net = self.matching_network(config, data)
        reinitialize(net, gen)
        return net

    def expert_optimizer(self, config: Any, net: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=config.lr_teacher,
                               momentum=config.momentum_teacher, weight_decay=config.weight_decay_teacher)

    def trajectory_parts(self, config: Any, layout: ParamLayout) -> list[TrajectoryPart]:
        start = getattr(config, "lr_student", None)  # the student's initial step size, else the experts' rate
        return [TrajectoryPart("all", slice(0, layout.num_params), STEP_SIZE, config.lr_teacher if start is None else start)]


def protocol_members(protocol: type) -> list[str]:
    """The attributes and methods a contract (a ``Protocol`` class of mmdistill) asks for, its bases' included."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if getattr(cls, "_is_protocol", False) and cls.__module__.startswith("mmdistill"):
            names.update(n for n in vars(cls) if not n.startswith("_"))
            names.update(vars(cls).get("__annotations__", {}))
    return sorted(names)


def checked_set(modality: Modality, syn: SyntheticSet, data: Any) -> SyntheticSet:
    """``syn``, the set ``modality.init_synthetic`` made, when its decoded samples have the real training samples' shape
    and one label each in ``syn.labels`` (classification data: images, audio maps, clips); else a ConfigError naming the adapter's ``decode``, before a
    network meets them (a plugin's parameterization decoding to another shape failed deep in a convolution)."""
    real = getattr(getattr(data, "train", None), "x", None)
    if not isinstance(data, ClassificationData) or not isinstance(real, Tensor):
        return syn
    with torch.no_grad():
        decoded = modality.decode(syn)
    if not isinstance(decoded, Tensor) or tuple(decoded.shape[1:]) != tuple(real.shape[1:]):
        got = f"samples of shape {tuple(decoded.shape[1:])}" if isinstance(decoded, Tensor) else type(decoded).__qualname__
        raise ConfigError(f"modality {modality.name!r} ({type(modality).__module__}.{type(modality).__qualname__}): decode "
                          f"gives {got} for the set init_synthetic made; the real samples of {data.name} have shape "
                          f"{tuple(real.shape[1:])}, and the matchers, evaluation and export take decode's samples as model inputs")
    if decoded.shape[0] != len(syn.labels):  # IDC's multi-formation with one label per stored image
        raise ConfigError(f"modality {modality.name!r} ({type(modality).__module__}.{type(modality).__qualname__}): decode gives "
                          f"{decoded.shape[0]} samples for the set's {len(syn.labels)} labels; the classification matchers and "
                          "evaluation pair decode's rows with syn.labels one to one: a set that decodes a stored sample into "
                          "several keeps one label per decoded sample in syn.labels (as video's static/dynamic sets do)")
    return syn


def registration_name(function: str, name: Any, built_in: Callable[[str], str | None]) -> str:
    """``name`` as an adapter's in-memory registration takes it (video's and audio-visual's ``register_tensors``,
    ``register_graph``): a :class:`ConfigError` starting with ``function`` unless it is a non-empty string, and one
    saying ``built_in(name)`` (the refusal's words when it names a built-in dataset, else None) when that is not None."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{function}: name must be a non-empty string, got {name!r}")
    if (taken := built_in(name)) is not None:
        raise ConfigError(taken)
    return name


#: the data's (and so every set's) ``meta`` key naming the call that registered data in memory (each adapter's
#: ``register_tensors``): a saved set scored in another process (``mmdistill eval``, ``mmdistill.evaluate``) names that
#: call (:func:`mmdistill.share.saved_run_data`), and its card gives it as the source (:mod:`mmdistill.card`)
REGISTERED_META = "registered_with"


def registered_call(meta: Any) -> str | None:
    """The ``register_tensors`` call a set's ``meta`` records (:data:`REGISTERED_META`), or None (read from files, or
    no mapping)."""
    call = meta.get(REGISTERED_META) if isinstance(meta, Mapping) else None
    return call if isinstance(call, str) else None


def registered_modalities() -> list[str]:
    """mmdistill's own modalities (:data:`REGISTERED_MODALITIES`), then those installed packages declare in the
    ``mmdistill.modalities`` entry-point group (:mod:`mmdistill.plugins`)."""
    from mmdistill.plugins import MODALITY_GROUP, plugin_names

    return [*REGISTERED_MODALITIES, *(n for n in plugin_names(MODALITY_GROUP) if n not in REGISTERED_MODALITIES)]


def get_modality(name: str) -> Modality:
    """The adapter registered as ``mmdistill.modalities.<name>.MODALITY``, else the one an installed package declares
    as entry point ``name`` of the ``mmdistill.modalities`` group (:mod:`mmdistill.plugins`)."""
    from mmdistill.plugins import MODALITY_GROUP, load_plugin

    module_name = f"mmdistill.modalities.{name}"
    if name not in REGISTERED_MODALITIES:  # mmdistill's own come first; a helper module (base, artifacts) is none
        plugin = load_plugin(MODALITY_GROUP, name, "MODALITY")
        if plugin is None:
            raise ConfigError(f"unknown modality {name!r}: no package {module_name}, and no installed package declares it "
                              f"(entry point group {MODALITY_GROUP}); mmdistill has {', '.join(REGISTERED_MODALITIES)}")
        if not isinstance(plugin, Modality) or getattr(plugin, "name", None) != name or not name.isidentifier():
            lacks = [n for n in protocol_members(Modality) if not hasattr(plugin, n)]  # what isinstance found missing
            raise ConfigError(f"{MODALITY_GROUP} entry point {name!r} is not an adapter named {name!r} (a Modality object "
                              f"whose name is the entry point's, an identifier): got {type(plugin).__name__} named "
                              f"{getattr(plugin, 'name', None)!r}" + (f", which has no {', '.join(lacks)}" if lacks else ""))
        return plugin
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:  # the package is on disk (REGISTERED_MODALITIES): a dependency of it is missing
        raise ConfigError(f"modality {name!r} {install_hint(exc.name)}") from None
    modality = getattr(module, "MODALITY", None)
    if modality is None:
        raise ConfigError(f"{module_name} defines no MODALITY object")
    return modality


__all__ = ["AdapterDefaults", "Augment", "ClassificationData", "ClassificationModality", "Modality",
           "REGISTERED_META", "REGISTERED_MODALITIES", "ShareableModality", "checked_set", "TrajectoryModality", "TrajectoryPart", "get_modality", "protocol_members", "registered_call",
           "registered_modalities", "registration_name"]
