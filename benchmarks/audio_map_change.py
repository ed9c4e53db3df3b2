"""How far a distilled FD-MFCC set moved from its starting real subset, per channel and cepstral row, in units of
the real training clips' spread of that row (std over clips and frames). Prints one line per channel.

    python benchmarks/audio_map_change.py START_RUN DISTILLED_RUN [--data-root DIR]

START_RUN is the run directory of the same recipe and seed with ``iterations=0`` (its starting subset),
DISTILLED_RUN the distilled one. The dataset, its root and the maps' normalisation are read from the
distilled run's manifest (``--data-root`` replaces a root that has moved); both runs must share them.
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401  (an expected failure is one line: _common's excepthook)

from mmdistill.errors import DataError
from mmdistill.io import load_synthetic
from mmdistill.modalities.audio import MODALITY
from mmdistill.modalities.audio.datasets import load_audio_dataset

CHANNELS = ("mfcc", "delta", "delta2")
DATA_KEYS = ("dataset", "data_root", "normalize", "sample_rate", "duration", "align")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("start", help="run directory of the starting subset (iterations=0)")
    ap.add_argument("distilled", help="run directory of the distilled set")
    ap.add_argument("--data-root", default=None, help="the dataset's root, where it is not the manifest's")
    args = ap.parse_args()
    (start, start_manifest), (moved, manifest) = load_synthetic(args.start), load_synthetic(args.distilled)
    cfg, start_cfg = manifest["config"], start_manifest["config"]
    differ = [k for k in DATA_KEYS if k != "data_root" and cfg.get(k) != start_cfg.get(k)]
    if differ:
        raise DataError(f"{args.start} and {args.distilled} differ in {', '.join(f'{k} ({start_cfg.get(k)!r} vs {cfg.get(k)!r})' for k in differ)}")
    real = load_audio_dataset(cfg["dataset"], args.data_root or cfg["data_root"], normalization=cfg["normalize"],
                              sample_rate=cfg["sample_rate"], duration=cfg["duration"], align=cfg["align"]).x_train
    before, after = MODALITY.decode(start).detach(), MODALITY.decode(moved).detach()  # (K, 3, n_mfcc, frames)
    if before.shape != after.shape or before.shape[1:] != real.shape[1:]:
        raise DataError(f"shapes differ: start {tuple(before.shape)}, distilled {tuple(after.shape)}, real maps {tuple(real.shape[1:])}")
    ratio = (after - before).std(dim=(0, 3)) / real.std(dim=(0, 3))  # (3, n_mfcc)
    for c, name in enumerate(CHANNELS):
        print(f"{name:7s} c0 {ratio[c, 0]:.2f}  c1-4 {ratio[c, 1:5].mean():.2f}  c5-{ratio.shape[1] - 1} {ratio[c, 5:].mean():.2f}")


if __name__ == "__main__":
    main()
