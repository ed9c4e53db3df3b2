"""Configuration keys of the sequences adapter, shared by the TD3 and Farzi recipes.

Defaults are TD3's reference (USTC-StarTeam/TD3, mirrored as Maitouer/TD3): ``config/default.yaml``,
``config/sasrec.yaml``, ``config/gru4rec.yaml`` and the per-dataset commands ``script/ml100k.sh`` and
``script/ml1m.sh``. Keys left at ``None`` take the row of the dataset:

=================  =======  =============  ===========  ======  ======  ==========  ==========
dataset            seq_num  learner_batch  rank (U, T)  seq_lr  net_lr  iterations  batch_real
=================  =======  =============  ===========  ======  ======  ==========  ==========
ml-100k            30       15             8, 8         0.03    0.005   720         4096
ml-1m              50       25             16, 16       0.03    0.01    930         32768
ml-latest-small    50       25             8, 8         0.03    0.005   720         4096
other logs         20       20             64, 64       0.01    0.005   1000        2048
=================  =======  =============  ===========  ======  ======  ==========  ==========

(``batch_real`` is the reference's ``train.batch_size``: real prefixes per outer step; ``data.train_batch_size``
2048 for other logs.)

``ml-latest-small`` (610 users) has no reference command: it takes ML-100K's (943 users) with the issue's 50
sequences and a learner batch of 25 (the reference needs ``seq_num`` divisible by the batch). ``iterations``
are outer steps: the reference runs ``train.epochs`` = 30 epochs over real batches of ``train.batch_size``
prefixes (ML-100K: ~97k prefixes / 4,096 = 24 per epoch -> 720; ML-1M: ~1M / 32,768 = 31 -> 930).

Shared (``default.yaml``): ``seq_len`` 50, inner steps 200 (``learner_train.train_step``), RaT-BPTT window 40
(``train.window``, ``min_window`` 0), Adam on the summary with weight decay 1e-4, cosine schedule, gradient
norm clipped at 1.0; the learner's inner optimizer Adam with weight decay 5e-5; Farzi's latent size 32
(``distilled_data.farzi_dim``); 3 evaluation learners (``evaluate.n_eval_model``). SASRec (``sasrec.yaml``,
overridden as in the scripts): 1 layer, 1 head, hidden 32, inner 64, dropout 0.2 / attention 0.5, max length
50, pretrained 100 epochs; its embeddings start every learner and stay frozen (``model.freeze_pretrained_embed:
true``; the reference's ``Embedding.from_pretrained`` call returns a new module and so does not freeze them —
``freeze_embedding=false`` trains them as that code does). GRU4Rec (``gru4rec.yaml``): embedding 64, hidden 64, 1 layer, dropout 0.2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from mmdistill.errors import ConfigError
from mmdistill.schema import DistillConfig

from .nets import learner_name

PARAMETERIZATIONS = ("tucker", "farzi")
PROTOCOLS = ("full", "sampled", "both")
SEQUENCE_BASELINES = ("random_real", "most_active", "whole")

TD3_DEFAULTS: dict[str, dict[str, float | int]] = {
    "ml-100k": {"seq_num": 30, "learner_batch": 15, "rank_user": 8, "rank_time": 8, "seq_lr": 0.03, "net_lr": 0.005, "iterations": 720, "batch_real": 4096},
    "ml-1m": {"seq_num": 50, "learner_batch": 25, "rank_user": 16, "rank_time": 16, "seq_lr": 0.03, "net_lr": 0.01, "iterations": 930, "batch_real": 32768},
    "ml-latest-small": {"seq_num": 50, "learner_batch": 25, "rank_user": 8, "rank_time": 8, "seq_lr": 0.03, "net_lr": 0.005, "iterations": 720,
                        "batch_real": 4096},
}
GENERIC_DEFAULTS: dict[str, float | int] = {"seq_num": 20, "learner_batch": 20, "rank_user": 64, "rank_time": 64, "seq_lr": 0.01,
                                            "net_lr": 0.005, "iterations": 1000, "batch_real": 2048}


def dataset_key(dataset: str, data_root: str | None) -> str:
    """The row of the defaults table: ``ml-100k`` / ``ml-1m`` / ``ml-latest-small`` from the dataset name or,
    for ``movielens``, from the file or folder name of ``data_root``."""
    for name in (dataset, Path(data_root).name if data_root else ""):
        low = name.lower()
        for key in TD3_DEFAULTS:
            if key in low:
                return key
    return dataset.lower()


@dataclass
class SequenceDistillConfig(DistillConfig):
    """``DistillConfig`` plus the sequence loader, summary, learner, meta-learning and evaluation keys.

    Data: ``dataset`` (``generated[:USERS:ITEMS]``, ``movielens``/``ml-*``, ``recbole``, ``csv``, ``sasrec``,
    ``file``), ``data_root``, ``log_format`` (auto), ``max_len`` (learner input length, 50), k-core
    ``min_user_inter`` / ``min_item_inter`` (5, one pass as the reference; ``kcore=iterate``), ``on_bad``
    (``error`` or ``skip`` rows with non-numeric timestamps).

    Summary: ``parameterization`` (``tucker``: TD3's U, T, G with the frozen item factor V; ``farzi``: a latent
    summary and a learned decoder), ``seq_num`` sequences of ``seq_len`` positions (``ipc`` is set to
    ``seq_num``), Tucker ranks ``rank_user`` / ``rank_time`` (the third rank is the learner's hidden size),
    ``init_scale`` (std of U and T at the start: the reference's 0.02),
    ``farzi_dim``.

    Meta-learning (RaT-BPTT): ``inner_steps`` learner steps on the summary per outer step, the last ``window``
    of them differentiated (the first ``curriculum`` ~ U[min_window, inner_steps - window] run without a
    graph); outer loss = the learner's loss on ``batch_real`` real prefixes + ``align_weight`` x MSE to the
    pretrained learner's features; Adam ``seq_lr`` (weight decay ``seq_weight_decay``, cosine), clipped at
    ``max_grad_norm``; the learner's Adam ``net_lr`` / ``net_weight_decay``, batches of ``learner_batch``.

    Evaluation: ``eval_runs`` learners per set trained ``inner_steps`` steps on the summary (or a real subset of
    the same size, one-hot) with the learner's protocol, ``whole_epochs`` on the whole training data;
    ``eval_learners`` (default the matching learner; ``cross_arch``: SASRec and GRU4Rec); ``eval_protocol``
    ``full`` ranking, ``sampled`` (``eval_negatives`` = 100 uniform negatives) or ``both``.
    """

    BASELINE_CHOICES: ClassVar[tuple[str, ...]] = SEQUENCE_BASELINES

    dataset: str = "generated"
    log_format: str = "auto"
    max_len: int = 50
    min_user_inter: int = 5
    min_item_inter: int = 5
    kcore: str = "once"
    on_bad: str = "error"
    parameterization: str = "tucker"
    init: str = "noise"
    seq_num: int | None = None
    seq_len: int = 50
    rank_user: int | None = None
    rank_time: int | None = None
    farzi_dim: int = 32
    init_scale: float = 0.02
    network: str = "sasrec"
    hidden_size: int = 32
    inner_size: int = 64
    n_heads: int = 1
    n_layers: int = 1
    hidden_dropout: float = 0.2
    attn_dropout: float = 0.5
    gru_embedding: int = 64
    gru_hidden: int = 64
    gru_layers: int = 1
    gru_dropout: float = 0.2
    freeze_embedding: bool = True
    pretrain_epochs: int = 100
    pretrain_lr: float = 0.001
    pretrain_batch: int = 16
    iterations: int | None = None  # type: ignore[assignment]
    seq_lr: float | None = None
    seq_weight_decay: float = 1e-4
    cosine: bool = True
    max_grad_norm: float = 1.0
    net_lr: float | None = None
    net_weight_decay: float = 5e-5
    learner_batch: int | None = None
    inner_steps: int = 200
    window: int = 40
    min_window: int = 0
    align_weight: float = 1.0
    batch_real: int | None = None  # type: ignore[assignment]
    eval_runs: int = 3
    eval_learners: list[str] = field(default_factory=list)
    eval_protocol: str = "full"
    eval_negatives: int = 100
    eval_pretrained_embedding: bool = True
    whole_epochs: int | None = None
    baselines: list[str] = field(default_factory=lambda: list(SEQUENCE_BASELINES))
    checkpoint_every: int = 25

    def __post_init__(self) -> None:
        table = TD3_DEFAULTS.get(dataset_key(self.dataset, self.data_root), GENERIC_DEFAULTS)
        for key, value in table.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.whole_epochs is None:
            self.whole_epochs = self.pretrain_epochs
        if self.ipc not in (DistillConfig.ipc, self.seq_num):
            raise ConfigError(f"the summary's size is seq_num (sequences), got ipc={self.ipc} and seq_num={self.seq_num}; "
                              "set seq_num (ipc mirrors it)")
        self.ipc = int(self.seq_num)  # type: ignore[arg-type]
        self.lr_data = float(self.seq_lr)  # type: ignore[arg-type]
        self.network = learner_name(self.network)
        self.eval_learners = [learner_name(n) for n in self.eval_learners]
        if self.parameterization not in PARAMETERIZATIONS:
            raise ConfigError(f"parameterization must be one of {PARAMETERIZATIONS}, got {self.parameterization!r}")
        if self.eval_protocol not in PROTOCOLS:
            raise ConfigError(f"eval_protocol must be one of {PROTOCOLS} (full ranking, 100 sampled negatives, both), "
                              f"got {self.eval_protocol!r}")
        if self.kcore not in ("once", "iterate"):
            raise ConfigError(f"kcore must be 'once' (the reference's one pass) or 'iterate', got {self.kcore!r}")
        if self.on_bad not in ("error", "skip"):
            raise ConfigError(f"on_bad must be 'error' or 'skip', got {self.on_bad!r}")
        for key in ("seq_num", "seq_len", "rank_user", "rank_time", "farzi_dim", "learner_batch", "inner_steps", "window",
                    "max_len", "eval_negatives", "hidden_size", "pretrain_batch"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.seq_len < 3:
            raise ConfigError(f"seq_len must be >= 3 (inputs, an augmentation position and a target), got {self.seq_len}")
        if self.seq_len - 1 > self.max_len:
            raise ConfigError(f"seq_len - 1 ({self.seq_len - 1}) summary positions are learner inputs: max_len must be >= it, "
                              f"got {self.max_len}")
        if not 0 <= self.min_window <= self.inner_steps - self.window:
            raise ConfigError(f"need 0 <= min_window <= inner_steps - window, got min_window={self.min_window}, "
                              f"inner_steps={self.inner_steps}, window={self.window}")
        if self.seq_lr <= 0 or self.net_lr <= 0:  # type: ignore[operator]
            raise ConfigError(f"seq_lr and net_lr must be > 0, got {self.seq_lr}, {self.net_lr}")
        super().__post_init__()

    def out_dir(self, recipe: str) -> Path:
        if self.out:
            return Path(self.out)
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.dataset)
        return Path("runs") / f"{recipe}-{safe}-n{self.seq_num}x{self.seq_len}-seed{self.seed}"


__all__ = ["GENERIC_DEFAULTS", "PARAMETERIZATIONS", "PROTOCOLS", "SEQUENCE_BASELINES", "SequenceDistillConfig", "TD3_DEFAULTS",
           "dataset_key"]
