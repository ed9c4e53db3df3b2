"""``python -m mmdistill ...`` (and ``torchrun --nproc_per_node K -m mmdistill experts ...``)."""

import sys

from mmdistill.cli import main

sys.exit(main())
