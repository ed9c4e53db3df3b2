"""Image-text adapter: image-caption pairs (CSV, COCO / Flickr30k caption JSON, a folder with sidecar
captions, generated shapes), image encoders and frozen text encoders by name, a dual encoder trained
contrastively, retrieval recall@1/5/10, and the distilled set as images + text embeddings (+ LoRS's
low-rank similarity matrix).

What a trajectory recipe plugs in (see docs/architecture.md, "Image-text"):

* network: ``MODALITY.matching_network(cfg, data)`` / ``dual_encoder_factory(cfg, data).make(gen)`` — a
  :class:`DualEncoder`; its trainable parameters by trajectory: ``net.parameter_groups()``;
* student loss on a synthetic minibatch: ``student_loss(net, MODALITY.decode(syn).subset(idx), task, params)``;
* one expert epoch on the real pairs: ``train_epoch(net, data.train, optimizer, gen, ...)`` with
  ``expert_optimizer(net, lr_image, lr_text)``.
"""

from .adapter import ImageTextModality, dual_encoder_factory, similarity_matrix
from .config import ImageTextDistillConfig
from .data import ImageTextData, PairBatch, PairSplit
from .prepare import pairs_like
from .model import DualEncoder, DualEncoderFactory, trainable_parameters
from .task import ContrastiveTask, retrieval_recalls
from .training import expert_optimizer, student_loss, train_epoch, train_on_pairs

MODALITY = ImageTextModality()

__all__ = [
    "MODALITY", "ContrastiveTask", "DualEncoder", "DualEncoderFactory", "ImageTextData", "ImageTextDistillConfig",
    "ImageTextModality", "PairBatch", "PairSplit", "dual_encoder_factory", "expert_optimizer", "pairs_like", "retrieval_recalls",
    "similarity_matrix", "student_loss", "train_epoch", "train_on_pairs", "trainable_parameters",
]
