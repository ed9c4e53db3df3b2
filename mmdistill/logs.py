"""Logging of the command line: library code logs through ``logging.getLogger(__name__)`` (one logger per
module under the package's ``mmdistill`` logger) and never prints; the CLI and recipe scripts decide what is
shown. Progress bars are tqdm's and switch off with ``progress=false`` (``--no-progress``)."""

from __future__ import annotations

import logging
import os
import sys


def configure_logging(debug: bool = False) -> None:
    """The CLI's logging: the package's INFO messages (progress notes, result tables) as plain lines on
    stderr, DEBUG with ``--debug``; library users configure ``logging.getLogger("mmdistill")`` themselves.
    Under torchrun the ranks > 0 show warnings and errors only (rank 0 shows what one process would)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if not debug else "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("mmdistill")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO if is_lead_process() else logging.WARNING)
    root.propagate = False


def is_lead_process() -> bool:
    """Whether this process speaks for the run: the only one, or rank 0 of a torchrun run (``RANK``)."""
    return os.environ.get("RANK", "0") == "0"


__all__ = ["configure_logging", "is_lead_process"]
