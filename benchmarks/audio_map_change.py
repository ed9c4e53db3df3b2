"""How far a distilled FD-MFCC set moved from its starting real subset, per channel and cepstral row, in units of
the real training clips' spread of that row (std over clips and frames). Prints one line per channel.

    python benchmarks/audio_map_change.py --data-root DIR --normalize coefficient START/synthetic.safetensors SET/synthetic.safetensors

START is the set evaluated with ``iterations=0`` (the starting subset of the same seed), SET the distilled one
(or its ``checkpoint.safetensors``); both must be normalised as ``--normalize`` says.
"""

from __future__ import annotations

import argparse

from safetensors.torch import load_file

from mmdistill.errors import DataError
from mmdistill.modalities.audio.datasets import load_audio_dataset

CHANNELS = ("mfcc", "delta", "delta2")


def maps_of(path: str):
    """The (K, 3, n_mfcc, frames) maps of a saved set (``data.x``) or a checkpoint (``syn.data.x``)."""
    tensors = load_file(path)
    for key in ("data.x", "syn.data.x"):
        if key in tensors:
            return tensors[key]
    raise DataError(f"{path}: no 'data.x' or 'syn.data.x' tensor (keys: {sorted(tensors)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("start")
    ap.add_argument("distilled")
    ap.add_argument("--dataset", default="fsdd")
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--normalize", default="channel", choices=("channel", "coefficient"))
    args = ap.parse_args()
    real = load_audio_dataset(args.dataset, args.data_root, normalization=args.normalize).x_train
    start, moved = maps_of(args.start), maps_of(args.distilled)
    if start.shape != moved.shape or start.shape[1:] != real.shape[1:]:
        raise DataError(f"shapes differ: start {tuple(start.shape)}, distilled {tuple(moved.shape)}, real maps {tuple(real.shape[1:])}")
    ratio = (moved - start).std(dim=(0, 3)) / real.std(dim=(0, 3))  # (3, n_mfcc)
    for c, name in enumerate(CHANNELS):
        print(f"{name:7s} c0 {ratio[c, 0]:.2f}  c1-4 {ratio[c, 1:5].mean():.2f}  c5-{ratio.shape[1] - 1} {ratio[c, 5:].mean():.2f}")


if __name__ == "__main__":
    main()
