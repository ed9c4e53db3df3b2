"""The sequences adapter object: interaction logs -> user sequences, the summary, learners, evaluation.

Not a classification modality: the task is next-item ranking, the "set" is a summary of user sequences
(:mod:`.summary`), the evaluation reports HR@K / NDCG@K (:mod:`.evaluate`). The set's labels are ``seq_num``
zeros (one class), its meta holds the item mapping (ids, titles) so a saved set decodes on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmdistill.evaluation import EvaluationPlan
from mmdistill.errors import ConfigError
from mmdistill.modality import AdapterDefaults
from mmdistill.synthetic import SyntheticSet

from .data import SequenceData, SequenceLoadOptions, load_sequences
from .nets import build_learner
from .share import SequenceShare
from .summary import decode_summary, init_summary


class NextItemTask:
    """The learner's loss (see :mod:`.train`); a marker object for the run."""

    name = "next-item ranking"


#: the largest batch of windows a learner runs attention over: the outer loss's real prefixes, the pretraining and
#: whole-data batches, or the ranking's users (:func:`.train.rank_metrics`' batch of 512)
RANKING_BATCH = 512


def check_attention_memory(config: Any) -> None:
    """ConfigError naming ``max_len`` when SASRec's attention over windows of ``max_len`` items cannot fit the host's
    available memory (``memory_check``): every window is padded to ``max_len``, and one attention map of a batch is
    batch x n_heads x max_len^2 floats, held three times (scores, softmax, gradient). ``max_len=100000`` asked for
    640 GB and ended in a traceback."""
    if not getattr(config, "memory_check", True):
        return
    from mmdistill.memory import host_shortfall

    batch = max(int(config.batch_real), int(config.pretrain_batch), RANKING_BATCH)
    need = 3 * 4 * batch * int(config.n_heads) * int(config.max_len) ** 2
    if available := host_shortfall(need):
        raise ConfigError(f"max_len={config.max_len}: every learner window is padded to max_len items, and SASRec's attention "
                          f"over a batch of {batch} windows needs about {need / 2**30:,.0f} GiB (batch x n_heads x max_len^2 "
                          f"floats, three times), more than the {available / 2**30:,.1f} GiB available; lower max_len (the "
                          "reference's 50 or 200), or pass memory_check=false to try anyway", key="max_len")


class SequenceModality(SequenceShare, AdapterDefaults):
    """The sequences adapter; its sharing hooks (Hugging Face ``items`` column, item-profile memorisation) are
    :class:`.share.SequenceShare`'s."""

    name = "sequences"
    sample_noun = "sequence"
    merge_refusal = ("a sequence summary does not concatenate: TD3's Tucker factors (U, T, G, with the item factor V every "
                     "sequence shares) and Farzi's latent summary Z with its learned decoder D each decode only as a whole, so "
                     "stacking two parts' tensors would decode other sequences (joining them exactly needs block-structured "
                     "factors, which merge does not build). Distil one summary from the union of the clients' logs, or score "
                     "each part on its own with mmdistill eval")
    shards_matching = False
    """its matchers do not split their work over torchrun's processes: :func:`mmdistill.run.distill` refuses several
    before anything is loaded or pretrained (the learner of TD3's item factor pretrains in ``init_synthetic``)"""

    def load(self, config: Any) -> SequenceData:
        check_attention_memory(config)
        opts = SequenceLoadOptions(max_len=config.max_len, min_user_inter=config.min_user_inter,
                                   min_item_inter=config.min_item_inter, kcore=config.kcore, on_bad=config.on_bad,
                                   log_format=config.log_format, seed=config.seed,
                                   columns=(config.user_column, config.item_column, config.time_column))
        return load_sequences(config.dataset, config.data_root, opts)

    def to_device(self, data: SequenceData, device: torch.device) -> SequenceData:
        return data.to(device)

    def describe(self, data: SequenceData) -> str:
        return data.describe()

    def task(self, config: Any) -> NextItemTask:
        return NextItemTask()

    def init_synthetic(self, data: SequenceData, config: Any, gen: torch.Generator) -> SyntheticSet:
        """TD3's factors (V = the pretrained learner's item embedding) or Farzi's latent summary and decoder."""
        from mmdistill.devices import resolve_device
        from mmdistill.distributed import current_workers

        from .evaluate import check_budget
        from .train import pretrained_learner

        check_budget(data, int(config.seq_num))
        item_factor = None
        if config.parameterization == "tucker":
            device, workers = resolve_device(config.device), current_workers()
            if workers.world > 1 and device.type == "cuda":
                device = workers.device  # under torchrun each rank's own GPU, as the run's
            pre = pretrained_learner(data, config, config.network, device)
            item_factor = pre.state["item_embedding.weight"][: data.num_items]
        # the loader's counts (rows read, malformed lines and timestamps dropped, k-core and short-user removals,
        # duplicates, unseen targets) travel with the set, so the manifest has them with or without evaluation: a log
        # read from a file stores them once, as its load_report (what was dropped or removed as counts, the card's
        # line; the other stats as facts), in the shape of every adapter; a generated log (nothing read, no
        # report) as data_stats
        stats = {"load_report": data.report.as_dict()} if data.report.root else {"data_stats": dict(data.stats)}
        # max_len: the learner input length, with which items_like cuts a consumer's own histories as the loader does
        meta = {"dataset": data.name, "item_ids": list(data.item_ids), "learner": config.network, "max_len": int(data.max_len),
                **stats}
        if data.titles:
            meta["titles"] = list(data.titles)
        return init_summary(config, data.num_items, item_factor, gen, meta)

    def matching_network(self, config: Any, data: SequenceData) -> nn.Module:
        return build_learner(config.network, data.num_items, data.max_len, config)

    def augmenter(self, strategy: str, dataset: str) -> None:
        return None  # the inner-loop augmentation lives in the learner's summary loss

    def decode(self, syn: SyntheticSet) -> torch.Tensor:
        """(seq_num, seq_len, num_items) distributions over items."""
        return decode_summary(syn)

    def evaluation_plan(self, config: Any, syn: SyntheticSet | None, data: SequenceData, device: torch.device) -> EvaluationPlan:
        from .evaluate import sequence_plan

        return sequence_plan(config, syn, data, device)

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        from .export import draw_summary

        return draw_summary(syn, path, title)

    def input_note(self, meta: dict[str, Any]) -> str | None:
        """What a summary's ``x`` is and which item each of its last axis's entries is (the card and the ``--to hf``
        description print it: that export's ``x`` column has no item ids of its own)."""
        count = f" ({len(meta['item_ids'])} items)" if isinstance(meta.get("item_ids"), list) else ""
        return ("each of `x`'s sequences holds one probability distribution over the items per position (a next-item model "
                "reads it up to position p and learns position p + 1's); its last axis lists the items in the order of "
                f"the manifest's `synthetic.meta.item_ids`{count}, also the natural export's `items.json`")

    inputs_like_input = None  # item indices a learner reads, not the summary's distributions (x)
    inputs_like_recorded = {"max_len": ("max_len", "max_len")}  # a set made before walk 53B: its run's config.max_len

    def inputs_like(self, syn: SyntheticSet, raw: Any, **options: Any) -> torch.Tensor:
        """Your own users' histories (item ids of the set's log, oldest first) as a learner's inputs, (N, max_len) item
        indices right-padded with ``num_items``: :func:`~.prepare.items_like` (``max_len=``, ``unknown=``), the
        sharing hook behind ``DistilledSet.inputs_like``."""
        from .prepare import items_like

        return items_like(syn, raw, **options)

    def preview_words(self, syn: SyntheticSet) -> str:
        """What :meth:`write_preview` draws (:func:`draw_summary`'s defaults): a table of top items."""
        from .export import PREVIEW_POSITIONS, PREVIEW_SEQUENCES, _decoded

        s, length = _decoded(syn).shape[:2]
        return (f"a table: one column for each of the first {min(PREVIEW_SEQUENCES, s)} of {s} synthetic sequences, one row "
                f"for each of the first {min(PREVIEW_POSITIONS, length)} of {length} positions, the most probable item's name "
                "and probability")

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        from .export import export_summary

        return export_summary(syn, out_dir)

    def export_note(self, syn: SyntheticSet) -> str | None:
        """How a model of one's own trains on the export's files (:func:`.export.export_note`)."""
        from .export import export_note

        return export_note(syn)

    def versions(self) -> dict[str, str]:
        return {}


__all__ = ["NextItemTask", "SequenceModality"]
