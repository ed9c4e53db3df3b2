"""Video distillation by static/dynamic disentanglement (Wang et al., "Dancing with Still Images: Video
Distillation via Static-Dynamic Disentanglement", CVPR 2024; reference code yuz1wan/video_distillation).

Stage 1 distils still images (the static memory) from single frames with the core's image DM (or DC); stage 2
freezes them and learns a small dynamic memory per clip and a shared integrator with video DM
(``--method dm``) or trajectory matching (``--method mtt`` / ``tesla``).

    mmdistill run video-static-dynamic --budget cpu                   # moving digits, stage 2 by DM
    mmdistill run video-static-dynamic --method mtt --budget cpu      # stage 2 by MTT (trains its experts first)
    python recipes/video_static_dynamic.py --method mtt --buffer buffers/md --ipc 1
    from mmdistill.recipes import video_static_dynamic; video_static_dynamic.run(method="dm", ipc=1, budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch

from mmdistill.context import MatchContext
from mmdistill.errors import ConfigError
from mmdistill.matchers.trajectory import step_size_keys
from mmdistill.methods.distribution import DistributionMatchingConfig, make_dm_matcher
from mmdistill.methods.trajectory import make_trajectory_matcher
from mmdistill.methods.trajectory_keys import TrajectoryConfig
from mmdistill.modalities.video.config import StaticDynamicKeys, VideoDistillConfig
from mmdistill.modalities.video.static_dynamic import BIAS, DYNAMIC, WEIGHT
from mmdistill.recipe import Recipe
from mmdistill.recipes.video_mtt import ClampedStepSizes
from mmdistill.synthetic import SyntheticSet

#: the reference's scripts (``sh/s2d/s2d_DM_ms*.sh``, ``s2d_MTT_ms*.sh``): per stage-2 method and vpc, the keys
#: left at None
STAGE2_DEFAULTS: dict[tuple[str, int], dict[str, Any]] = {
    ("dm", 1): dict(iterations=5000),
    ("dm", 5): dict(iterations=5000),
    ("mtt", 1): dict(iterations=10000, syn_steps=10, batch_syn=None, batch_train=256, lr_lr=1e-5),
    ("mtt", 5): dict(iterations=10000, syn_steps=5, batch_syn=128, batch_train=128, lr_lr=0.0),
}


@dataclass
class Config(StaticDynamicKeys, DistributionMatchingConfig, VideoDistillConfig, TrajectoryConfig):
    """Defaults of the reference (``distill_s2d_ms.py`` and ``sh/s2d/*.sh``): ``method`` ``dm`` (5,000
    iterations, 64 real clips per class) or ``mtt`` (10,000 iterations; 10 student steps at 1 clip per class, 5
    at 5 with 128 clips per step; 1 expert epoch; start epochs below 10; experts 30 x 50 epochs at lr 0.01; the
    step size learned at 1 clip per class); 2 static and 2 dynamic memories per clip; dynamic memories of 1
    channel at the clip's frames and size; the integrator a 3x3x3 convolution; lr_dynamic / lr_integrator
    per method and vpc from the README (:data:`~mmdistill.modalities.video.config.STATIC_DYNAMIC_LRS`), SGD
    momentum 0.95; static memory frozen; no DSA; evaluation 500 epochs x 3 networks (ConvNet3D)."""

    parameterization: str = "static_dynamic"
    method: str = "dm"
    iterations: int | None = None  # type: ignore[assignment]
    batch_real: int = 64
    dsa: bool = False
    eval_dsa: bool = False
    eval_epochs: int = 500
    eval_runs: int = 3
    num_experts: int = 30
    expert_train_epochs: int = 50
    expert_dsa: bool = False
    syn_steps: int | None = None  # type: ignore[assignment]
    expert_epochs: int = 1
    max_start_epoch: int = 10
    batch_train: int | None = None  # type: ignore[assignment]
    lr_lr: float | None = None  # type: ignore[assignment]
    checkpoint_every: int = 250

    def __post_init__(self) -> None:
        if self.method not in ("dm", "mtt", "tesla"):
            raise ConfigError(f"method (stage 2) must be 'dm', 'mtt' or 'tesla', got {self.method!r}")
        row = STAGE2_DEFAULTS[("dm" if self.method == "dm" else "mtt", 5 if self.ipc >= 5 else 1)]
        base = {"iterations": 5000, "syn_steps": 10, "batch_train": 256, "lr_lr": 1e-5}
        for key, value in {**base, **row}.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.parameterization != "static_dynamic":
            raise ConfigError("video-static-dynamic learns the static/dynamic parameterization; use video-dm or video-mtt for full clips")
        super().__post_init__()
        self.check_static_dynamic(self.method)
        if self.method != "dm":
            self.check_trajectory()


def make_matcher(ctx: MatchContext):
    """Stage 2: video DM or trajectory matching of the rendered clips."""
    return make_dm_matcher(ctx) if ctx.config.method == "dm" else ClampedStepSizes(make_trajectory_matcher(ctx))


def make_optimizer(syn: SyntheticSet, cfg: Any) -> torch.optim.Optimizer:
    """SGD (momentum ``momentum_data``, 0.95 in the reference) over the dynamic memories (``lr_dynamic``) and
    the integrator (``lr_integrator``), and the student step size (``lr_lr``, momentum 0.5) under MTT; the
    static memories are not in it (frozen after stage 1)."""
    groups: list[dict[str, Any]] = [{"params": [syn.data[DYNAMIC]], "lr": cfg.lr_dynamic},
                                    {"params": [syn.data[WEIGHT], syn.data[BIAS]], "lr": cfg.lr_integrator}]
    steps = step_size_keys(syn)
    if steps:
        groups.append({"params": [syn.data[k] for k in steps], "lr": cfg.lr_lr, "momentum": 0.5})
    return torch.optim.SGD(groups, lr=cfg.lr_dynamic, momentum=cfg.momentum_data)


#: CPU-sized: ``convnet3d-small``; 100 stage-1 iterations (image DM, 8 frames per class), stage 2 100 DM iterations (8
#: real clips per class) or 100 MTT iterations with the experts of video-mtt's CPU budget; the learning rates of
#: :data:`~mmdistill.modalities.video.config.CPU_STATIC_DYNAMIC_LRS` (the README's are sized for 5,000-10,000
#: iterations); the integrator initialised to pass the static memory through (``identity``: in 100 iterations at
#: the README's integrator rate the reference's random 3x3x3 filter stays a random filter over still image and
#: noise); 3 x 200 evaluation epochs; the
#: dynamic memories shrunk to 4 frames of 12x12 (on 1-channel 8 x 32 x 32 moving digits a 1-channel dynamic memory
#: at the clip's size is as large as the clip: the set then stores 39 % of the full clips' bytes)
CPU_BUDGET = {"network": "convnet3d-small", "integrator_init": "identity", "static_iterations": 100, "iterations": 100, "dynamic_frames": 4, "dynamic_size": 12,
              "batch_real": 8, "num_experts": 3, "expert_train_epochs": 6,
              "batch_train": 64, "max_start_epoch": 4, "syn_steps": 5, "eval_epochs": 200, "eval_runs": 3,
              "baselines": ["random_real"], "checkpoint_every": 50}

RECIPE = Recipe(
    name="video-static-dynamic",
    modality="video",
    method="static-dynamic",
    summary="Video distillation by static/dynamic disentanglement (stage 2 by DM or MTT)",
    paper="Wang et al., Dancing with Still Images: Video Distillation via Static-Dynamic Disentanglement, CVPR 2024",
    config_cls=Config,
    make_matcher=make_matcher,
    make_optimizer=make_optimizer,
    budgets={"cpu": CPU_BUDGET},
)
run = RECIPE.run
main = RECIPE.main

if __name__ == "__main__":
    sys.exit(main())
