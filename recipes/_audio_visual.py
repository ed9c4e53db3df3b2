"""The matcher factory shared by the audio-visual recipes (AV-DM and AVDD differ only in the two weights)."""

from __future__ import annotations

from mmdistill.context import MatchContext
from mmdistill.modalities.audio_visual.matching import AVDistributionMatching


def make_av_matcher(ctx: MatchContext) -> AVDistributionMatching:
    """AV-DM when the config has no ``lam_icm``/``lam_cgm`` (or they are 0), AVDD otherwise."""
    cfg = ctx.config
    return AVDistributionMatching(
        net=ctx.net, reinit=ctx.reinit, real=ctx.data.train, num_classes=ctx.data.num_classes, decode=ctx.modality.decode,
        labels_of=ctx.modality.labels_of,
        batch_real=cfg.batch_real, augment=ctx.augment, lam_icm=float(getattr(cfg, "lam_icm", 0.0)),
        lam_cgm=float(getattr(cfg, "lam_cgm", 0.0)),
    )


__all__ = ["make_av_matcher"]
