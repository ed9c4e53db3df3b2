"""Sequences adapter: distil interaction logs into summaries of user sequences for next-item recommendation
(TD3's Tucker-decomposed summary, Farzi Data's latent summary), learners SASRec and GRU4Rec, HR/NDCG@K.

``MODALITY`` is the adapter object the core finds by name (``mmdistill.modalities.sequences``).
"""

from __future__ import annotations

from .adapter import SequenceModality
from .config import SequenceDistillConfig
from .data import SequenceData, SequenceLoadOptions, build_sequences, generated_log, load_sequences
from .export import decoded_view, export_summary
from .matching import MetaMatcher
from .prepare import items_like
from .nets import LEARNERS, GRU4Rec, SASRec, build_learner
from .summary import decode_summary, init_summary, summary_optimizer

MODALITY = SequenceModality()

__all__ = ["GRU4Rec", "LEARNERS", "MODALITY", "MetaMatcher", "SASRec", "SequenceData", "SequenceDistillConfig",
           "SequenceLoadOptions", "SequenceModality", "build_learner", "build_sequences", "decode_summary", "decoded_view",
           "export_summary", "generated_log", "init_summary", "items_like", "load_sequences", "summary_optimizer"]
