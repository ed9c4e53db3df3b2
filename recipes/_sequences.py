"""Shared pieces of the sequence recipes (sequences_td3, sequences_farzi): TD3's meta-learning matcher, the
summary's optimizer and the tables.

Defaults are TD3's reference: the per-release rows of ``tables/td3.yaml`` (``modalities/sequences/config.py``
says where every shared default comes from). ``--budget cpu`` (a row of ``tables/budgets.yaml``) sizes a run
for a CPU (about 11 minutes of summary learning on MovieLens latest-small on one idle core): 200 outer steps of
the reference's 200 inner steps, the last 40 differentiated (the evaluation learners train 200 steps too), real
batches of 4,096 prefixes (the reference's ML-100K batch), 20 pretraining epochs and 10 whole-data epochs. Run it with one torch thread on a shared
machine (``OMP_NUM_THREADS=1``; on 2 busy cores two threads made every step ~10x slower). As in the reference,
the run ends with the summary that scored best on the validation item (MRR@10, scored before the first outer step
and once per epoch of real prefixes: ``select_every``; 0 keeps the last summary).
"""

from __future__ import annotations

from typing import Any, Mapping, TypeVar

from mmdistill.context import MatchContext
from mmdistill.modalities.sequences.data import check_dataset_name
from mmdistill.modalities.sequences.config import SequenceDistillConfig, table_context
from mmdistill.modalities.sequences.matching import MetaMatcher
from mmdistill.modalities.sequences.summary import summary_optimizer
from mmdistill.modalities.sequences.train import pretrained_learner
from mmdistill.recipe import ConfigT, Recipe
from mmdistill.recipes import tables


def make_meta_matcher(ctx: MatchContext) -> MetaMatcher:
    cfg: SequenceDistillConfig = ctx.config
    return MetaMatcher(cfg, ctx.data, pretrained_learner(ctx.data, cfg, cfg.network, ctx.device), ctx.device)


class SequenceRecipe(Recipe[ConfigT]):
    """A recipe whose new runs take only the documented dataset names (:func:`check_dataset_name`: a typo was sniffed
    as a file and, for ``ml-1n``, took another release's hyper-parameters); a set saved under another name is still
    scored and checked (``mmdistill eval`` builds its config from the manifest, not here)."""

    def run_config(self, config: Any, overrides: Mapping[str, Any]) -> ConfigT:
        cfg = super().run_config(config, overrides)
        check_dataset_name(str(cfg.dataset))
        return cfg


_C = TypeVar("_C", bound=SequenceDistillConfig)


def sequence_recipe(name: str, method: str, summary: str, paper: str, config_cls: type[_C]) -> Recipe[_C]:
    """A sequences recipe: TD3's matcher and summary optimizer, TD3's per-release table and the budgets."""
    return SequenceRecipe(name=name, modality="sequences", method=method, summary=summary, paper=paper, config_cls=config_cls,
                  make_matcher=make_meta_matcher, make_optimizer=summary_optimizer,
                  tables=tables("td3"), table_context=table_context)
