"""Configuration keys of the sequences adapter, shared by the TD3 and Farzi recipes.

A sequences config has the run, synthetic-set and evaluation keys of the core and the sequence keys below —
no image keys (augmentation, labels, SGD on the set, evaluation networks' minibatches). The summary's size is
``seq_num`` (sequences); ``ipc`` is derived from it (the core's name for the set's size) and cannot be set.

Defaults are TD3's reference (USTC-StarTeam/TD3, mirrored as Maitouer/TD3): ``config/default.yaml``,
``config/sasrec.yaml``, ``config/gru4rec.yaml`` and the per-dataset commands ``script/ml100k.sh`` and
``script/ml1m.sh``. The per-dataset values (``seq_num``, ``learner_batch``, ``rank_user``, ``rank_time``,
``seq_lr``, ``net_lr``, ``iterations``, ``batch_real``) are rows of ``recipes/tables/td3.yaml``, looked up by
the MovieLens release (:func:`movielens_release`: ``ml-100k`` / ``ml-1m`` / ``ml-latest-small`` from the
dataset name or, for ``movielens``, from the file or folder name of ``data_root``); the class defaults are
the row of other logs. The CPU budget is a row of ``recipes/tables/budgets.yaml``.

``iterations`` are outer steps: the reference runs ``train.epochs`` = 30 epochs over real batches of
``train.batch_size`` prefixes (ML-100K: ~97k prefixes / 4,096 = 24 per epoch -> 720; ML-1M: ~1M / 32,768 =
31 -> 930).

Shared (``default.yaml``): ``seq_len`` 50, inner steps 200 (``learner_train.train_step``), RaT-BPTT window 40
(``train.window``, ``min_window`` 0), Adam on the summary with weight decay 1e-4, cosine schedule, gradient
norm clipped at 1.0; the learner's inner optimizer Adam with weight decay 5e-5; Farzi's latent size 32
(``distilled_data.farzi_dim``); 3 evaluation learners (``evaluate.n_eval_model``). SASRec (``sasrec.yaml``,
overridden as in the scripts): 1 layer, 1 head, hidden 32, inner 64, dropout 0.2 / attention 0.5, max length
50, pretrained 100 epochs; its embeddings start every learner and stay frozen (``model.freeze_pretrained_embed:
true``; the reference's ``Embedding.from_pretrained`` call returns a new module and so does not freeze them —
``freeze_embedding=false`` trains them as that code does). GRU4Rec (``gru4rec.yaml``): embedding 64, hidden 64,
1 layer, dropout 0.2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping

from mmdistill.errors import ConfigError
from mmdistill.keys import derived, key
from mmdistill.schema import ConfigKeys, DistillConfig

from .nets import learner_name

PARAMETERIZATIONS = ("tucker", "farzi")
PROTOCOLS = ("full", "sampled", "both")
SEQUENCE_BASELINES = ("popularity", "random_real", "most_active", "whole")
#: the MovieLens releases that have rows of their own in ``tables/td3.yaml``
RELEASES = ("ml-100k", "ml-1m", "ml-latest-small")
#: the reference's other datasets with rows of their own in ``tables/td3.yaml`` (``script/magazine.sh``,
#: ``script/epinions.sh``): ``magazine`` is an Amazon release read by :mod:`.amazon_log`, ``epinions`` a log whose
#: format is sniffed (TD3 read RecBole's ``epinions.inter``)
REFERENCE_DATASETS = ("magazine", "epinions")
#: the dataset names read as Amazon review or ratings files
AMAZON_DATASETS = ("magazine",)


def movielens_release(dataset: str, data_root: str | None) -> str:
    """The row name of ``tables/td3.yaml``: ``ml-100k`` / ``ml-1m`` / ``ml-latest-small`` from the dataset name
    or, for ``movielens``, from the file or folder name of ``data_root``; other logs: the dataset name."""
    for name in (dataset, Path(data_root).name if data_root else ""):
        low = name.lower()
        for release in RELEASES:
            if release in low:
                return release
    return dataset.lower()


def table_context(values: Mapping[str, Any]) -> dict[str, str]:
    """The names the sequence tables look rows up by besides the config's keys: ``release``."""
    return {"release": movielens_release(str(values.get("dataset", "")), values.get("data_root"))}


@dataclass
class SequenceDataKeys(ConfigKeys):
    """Sequences: the interaction log and how it becomes user sequences."""

    HELP_ORDER: ClassVar[int] = 1

    log_format: Literal["auto", "movielens", "recbole", "csv", "sasrec", "amazon"] = key(
        "auto", help="format of the interaction log file; auto: from the dataset name and the file")
    max_len: int = key(50, help="learner input length: the last max_len items of a user's sequence", unit="items", range="[1, inf)")
    min_user_inter: int = key(5, help="k-core filter: users with fewer interactions are dropped", unit="interactions", range="[0, inf)")
    min_item_inter: int = key(5, help="k-core filter: items with fewer interactions are dropped", unit="interactions", range="[0, inf)")
    kcore: Literal["once", "iterate", "items_first"] = key(
        "once", help="once: one k-core pass as the reference; iterate: until nothing changes; items_first: items below "
                     "min_item_inter removed, then users below min_user_inter counted on what is left (the reference's Amazon "
                     "Magazine preprocessing)")
    user_column: str | None = key(None, help="csv log: the header's column of user ids (none: a user / user_id / userId / uid "
                                             "column)")
    item_column: str | None = key(None, help="csv log: the header's column of item ids (none: an item / item_id / movieId / iid "
                                             "column)")
    time_column: str | None = key(None, help="csv log: the header's column of timestamps, numbers or ISO 8601 (none: a "
                                             "timestamp / time / ts column)")
    on_bad: Literal["error", "skip"] = key(
        "error", help="lines that are not rows of the log's format and rows with non-numeric or non-finite timestamps: "
                      "stop with an error or skip them (counted)")


@dataclass
class SequenceSummaryKeys(ConfigKeys):
    """The summary: its parameterization and size."""

    HELP_ORDER: ClassVar[int] = 1

    parameterization: Literal["tucker", "farzi"] = key(
        "tucker", help="tucker: TD3's U, T, G with the frozen item factor V; farzi: a latent summary and a learned decoder")
    init: Literal["noise"] = key("noise", help="initialisation of the summary: the reference's random factors (noise)")
    seq_num: int = key(20, help="synthetic user sequences in the summary (the summary's size)", unit="sequences", range="[1, inf)")
    seq_len: int = key(50, help="positions per summary sequence (inputs, an augmentation position and a target)", unit="positions",
                       range="[3, inf)")
    rank_user: int = key(64, help="Tucker rank of the synthetic-user factor U", unit="rank", range="[1, inf)")
    rank_time: int = key(64, help="Tucker rank of the temporal factor T", unit="rank", range="[1, inf)")
    farzi_dim: int = key(32, help="latent size of Farzi's summary Z and decoder D", unit="dimensions", range="[1, inf)")
    init_scale: float = key(0.02, help="standard deviation of U and T at the start (the reference's 0.02)", range="(0, inf)")


@dataclass
class SequenceLearnerKeys(ConfigKeys):
    """The learners (SASRec, GRU4Rec) and the pretrained learner whose embeddings start them."""

    HELP_ORDER: ClassVar[int] = 2

    hidden_size: int = key(32, help="SASRec hidden size (the Tucker core's third rank)", unit="units", range="[1, inf)")
    inner_size: int = key(64, help="SASRec feed-forward inner size", unit="units", range="[1, inf)")
    n_heads: int = key(1, help="SASRec attention heads", unit="heads", range="[1, inf)")
    n_layers: int = key(1, help="SASRec transformer layers", unit="layers", range="[1, inf)")
    hidden_dropout: float = key(0.2, help="SASRec hidden dropout probability", range="[0, 1)")
    attn_dropout: float = key(0.5, help="SASRec attention dropout probability", range="[0, 1)")
    gru_embedding: int = key(64, help="GRU4Rec item embedding size", unit="units", range="[1, inf)")
    gru_hidden: int = key(64, help="GRU4Rec hidden size", unit="units", range="[1, inf)")
    gru_layers: int = key(1, help="GRU4Rec recurrent layers", unit="layers", range="[1, inf)")
    gru_dropout: float = key(0.2, help="GRU4Rec dropout probability", range="[0, 1)")
    freeze_embedding: bool = key(True, help="keep the pretrained item embeddings frozen in every learner that starts from them "
                                            "(the reference's config)")
    pretrain_epochs: int = key(100, help="epochs of the pretrained learner on the real data", unit="epochs", range="[1, inf)")
    pretrain_lr: float = key(0.001, help="Adam learning rate of the pretrained and whole-data learners", unit="step size",
                             range="(0, inf)")
    pretrain_batch: int = key(16, help="minibatch of the pretrained and whole-data learners", unit="sequences", range="[1, inf)")
    pretrain_cache: bool = key(True, help="keep the pretrained learner on disk (safetensors, in pretrain_cache_dir) so a resume, "
                                          "`eval` or another run on the same data and settings reads it instead of pretraining "
                                          "again; keyed by the data, the learner and pretraining keys, the seed and torch's build "
                                          "and thread count", resume=False)
    pretrain_cache_dir: str | None = key(None, help="folder of cached pretrained learners; none: <cache>/sequences (<cache>: "
                                                    "$MMDISTILL_CACHE, else $XDG_CACHE_HOME/mmdistill, else ~/.cache/mmdistill)",
                                         resume=False)


@dataclass
class SequenceMetaKeys(ConfigKeys):
    """Meta-learning with RaT-BPTT: the summary's Adam and the learner's inner training."""

    HELP_ORDER: ClassVar[int] = 3

    seq_lr: float = key(0.01, help="Adam learning rate of the summary's learnable factors", unit="step size", range="(0, inf)")
    seq_weight_decay: float = key(1e-4, help="Adam weight decay of the summary", range="[0, inf)")
    cosine: bool = key(True, help="cosine schedule of the summary's learning rate")
    max_grad_norm: float = key(1.0, help="clip the summary's gradient norm at this value (0: no clipping)", range="[0, inf)")
    net_lr: float = key(0.005, help="Adam learning rate of the learner's inner steps on the summary", unit="step size", range="(0, inf)")
    net_weight_decay: float = key(5e-5, help="Adam weight decay of the learner's inner steps", range="[0, inf)")
    learner_batch: int = key(20, help="summary sequences per inner learner step", unit="sequences", range="[1, inf)")
    inner_steps: int = key(200, help="learner steps on the summary per outer step (and per evaluation learner)", unit="steps",
                           range="[1, inf)")
    window: int = key(40, help="RaT-BPTT window: the last inner steps differentiated", unit="steps", range="[1, inf)")
    min_window: int = key(0, help="smallest number of inner steps run without a graph before the window", unit="steps", range="[0, inf)")
    align_weight: float = key(1.0, help="weight of the MSE to the pretrained learner's features in the outer loss", range="[0, inf)")
    match_pretrained_embedding: bool = key(
        True, help="start the matching learners from the pretrained item embeddings (the reference); false: fresh embeddings "
                   "trained in the inner loop, the starting point of evaluation with eval_pretrained_embedding=false")
    batch_real: int = key(2048, help="real prefixes per outer step (the reference's train.batch_size)", unit="prefixes",
                          range="[1, inf)")
    select_every: int = key(
        -1, help="score the summary on the validation item (MRR@10, full ranking) before the first outer step and every this "
                 "many steps, and end with the best one (the reference's best checkpoint); -1: once per epoch of real prefixes "
                 "(ceil(transitions / batch_real) steps, the reference's val_interval 1); 0: keep the last summary (a run "
                 "with eval_split=valid needs 0)", unit="outer steps", range="[-1, inf)")
    select_models: int = key(1, help="learners trained on the summary per selection score, their MRR@10 averaged (the "
                                     "reference's train.n_eval_model)", unit="learners", range="[1, inf)")


_SELECTION_HOLDS = "may differ on --resume unless select_every keeps the best summary (its selection trains learners with it)"


@dataclass
class SequenceEvalKeys(ConfigKeys):
    """Evaluation: learners trained on the summary, ranked by HR@K / NDCG@K next to real baselines."""

    HELP_ORDER: ClassVar[int] = 8

    eval_learners: list[Literal["sasrec", "gru4rec"]] = key(
        factory=list, help="learners the summary is evaluated with (comma-separated); empty: the matching learner", resume=False)
    cross_arch: bool = key(False, help="evaluate with SASRec and GRU4Rec (cross-architecture)", resume=False)
    eval_protocol: Literal["full", "sampled", "both"] = key(
        "full", help="full: rank every item; sampled: the target among eval_negatives random items; both", resume=False)
    eval_split: Literal["test", "valid"] = key(
        "test", help="leave-one-out item the learners are scored on: test (the last) or valid (the second-last, for choosing "
                     "settings without reading the test items)", resume=False)
    eval_negatives: int = key(100, help="uniform negatives of the sampled protocol", unit="items", range="[1, inf)", resume=False)
    eval_pretrained_embedding: bool = key(
        True, help="start evaluation learners from the pretrained item embeddings; false: fresh embeddings, trained with the rest "
                   "(freeze_embedding then holds for the matching learner only)", resume=False, resume_note=_SELECTION_HOLDS)
    whole_epochs: int = key(100, help="epochs of the learner trained on the whole training data (the whole baseline)",
                            unit="epochs", range="[1, inf)", resume=False)
    eval_steps: int = key(0, help="Adam steps of every learner trained on a small set (the summary, random real users, the most "
                                  "active users); 0: inner_steps, as the reference's evaluation", unit="steps", range="[0, inf)",
                          resume=False, resume_note=_SELECTION_HOLDS)
    eval_select_every: int = key(
        0, help="0: keep each small-set learner after its last step (the reference); k > 0: score it on the validation item "
                "(HR@10, full ranking) every k steps and keep the best, as the whole baseline keeps its best validation epoch "
                "(needs eval_split=test)", unit="steps", range="[0, inf)", resume=False)


@dataclass
class SequenceDistillConfig(SequenceDataKeys, SequenceSummaryKeys, SequenceLearnerKeys, SequenceMetaKeys, SequenceEvalKeys,
                            DistillConfig):
    """The keys of a sequences recipe (TD3, Farzi).

    Summary: ``parameterization`` (``tucker``: TD3's U, T, G with the frozen item factor V; ``farzi``: a latent
    summary and a learned decoder), ``seq_num`` sequences of ``seq_len`` positions (``ipc`` follows
    ``seq_num``), Tucker ranks ``rank_user`` / ``rank_time`` (the third rank is the learner's hidden size).

    Meta-learning (RaT-BPTT): ``inner_steps`` learner steps on the summary per outer step, the last ``window``
    of them differentiated (the first ``curriculum`` ~ U[min_window, inner_steps - window] run without a
    graph); outer loss = the learner's loss on ``batch_real`` real prefixes + ``align_weight`` x MSE to the
    pretrained learner's features; Adam ``seq_lr`` (weight decay ``seq_weight_decay``, cosine), clipped at
    ``max_grad_norm``; the learner's Adam ``net_lr`` / ``net_weight_decay``, batches of ``learner_batch``.
    Selection: the summary is scored on the validation item before the first step and every ``select_every`` steps
    (default: once per epoch of real prefixes) and the best one is kept, as the reference keeps its best checkpoint.

    Evaluation: ``eval_runs`` learners per set trained ``eval_steps`` (default ``inner_steps``) steps on the summary
    (or a real subset of the same size, one-hot) with the learner's protocol, the last step kept or, with
    ``eval_select_every`` k, the best of every k steps on the validation item; ``whole_epochs`` on the whole training data;
    ``eval_learners`` (default the matching learner; ``cross_arch``: SASRec and GRU4Rec); ``eval_protocol``
    ``full`` ranking, ``sampled`` (``eval_negatives`` = 100 uniform negatives) or ``both``.
    """

    REPLACED_KEYS: ClassVar[dict[str, str]] = {
        "ipc": "seq_num (the summary's number of sequences; ipc follows it)",
        "lr_data": "seq_lr (Adam on the summary's factors)",
        "eval_networks": "eval_learners (sasrec, gru4rec)",
        "eval_epochs": "eval_steps (Adam steps of a learner on a small set) and whole_epochs (on the whole data)",
    }

    #: the keys declared here (baselines) are evaluation keys in ``--help``
    HELP_ORDER: ClassVar[int] = 8

    dataset: str = "generated"
    network: str = "sasrec"
    ipc: int = derived(20, help="the summary's size as the core counts it: seq_num (set seq_num)")
    eval_epochs: int = derived(300, help="not used: learners train eval_steps steps on a small set, whole_epochs epochs on the "
                               "whole data (set those)", resume=False)  # an evaluation key: a checkpoint's value never blocks
    eval_runs: int = 3
    baselines: list[Literal["popularity", "random_real", "most_active", "whole"]] = key(
        factory=lambda: list(SEQUENCE_BASELINES),
        help="baselines evaluated next to the summary (comma-separated): the items by training count (no learner), random "
             "real users, the most active users, the whole data",
        resume=False)
    checkpoint_every: int = 25

    def derive(self) -> None:
        super().derive()
        self.ipc = self.seq_num

    def check(self) -> None:
        super().check()
        learner_name(self.network)  # ConfigError for an unknown learner
        if self.seq_len - 1 > self.max_len:
            raise ConfigError(f"seq_len - 1 ({self.seq_len - 1}) summary positions are learner inputs: max_len must be >= it, "
                              f"got max_len={self.max_len}", key="max_len")
        if self.eval_select_every and self.eval_split != "test":
            raise ConfigError(f"eval_select_every={self.eval_select_every} selects each learner on the validation item, which "
                              f"eval_split={self.eval_split} also scores; use eval_select_every=0 there", key="eval_select_every")
        if not self.min_window <= self.inner_steps - self.window:
            raise ConfigError(f"need 0 <= min_window <= inner_steps - window, got min_window={self.min_window}, "
                              f"inner_steps={self.inner_steps}, window={self.window}", key="window")

    def out_dir(self, recipe: str) -> Path:
        if self.out:
            return Path(self.out).expanduser()
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.dataset)
        return Path("runs") / f"{recipe}-{safe}-n{self.seq_num}x{self.seq_len}-seed{self.seed}"


__all__ = ["PARAMETERIZATIONS", "PROTOCOLS", "RELEASES", "SEQUENCE_BASELINES", "SequenceDataKeys", "SequenceDistillConfig",
           "SequenceEvalKeys", "SequenceLearnerKeys", "SequenceMetaKeys", "SequenceSummaryKeys", "movielens_release", "table_context"]
