"""Write the audio-visual digits set: FSDD spoken digits paired with scikit-learn's handwritten digits of the same class
(:func:`mmdistill.modalities.audio_visual.build_av_digits`). Test split: the takes of an unseen speaker with the
image adapter's held-out digit images; ``--validation`` writes the tuning set instead (a training speaker held out as
its test split, the test speaker left out entirely).

    python benchmarks/make_audio_visual_digits.py --fsdd ../shared/data/fsdd --out /tmp/av_digits
    python benchmarks/make_audio_visual_digits.py --fsdd ../shared/data/fsdd --out /tmp/av_digits_val --validation
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401  (an expected failure is one line: _common's excepthook)
import logging
from pathlib import Path

from mmdistill.modalities.audio_visual import build_av_digits

log = logging.getLogger("make_audio_visual_digits")

TEST_SPEAKER = "yweweler"
VALIDATION_SPEAKER = "theo"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fsdd", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"), help="FSDD folder or recordings.tar")
    p.add_argument("--out", required=True, help="folder to write (audio/, images/, pairs.csv)")
    p.add_argument("--validation", action="store_true", help="hold out a training speaker as the split to tune on")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.validation:
        path = build_av_digits(args.fsdd, args.out, test_speakers=(VALIDATION_SPEAKER,), exclude_speakers=(TEST_SPEAKER,))
    else:
        path = build_av_digits(args.fsdd, args.out, test_speakers=(TEST_SPEAKER,))
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
