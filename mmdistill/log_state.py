"""The ``mmdistill`` logger given back as it was after a command run inside a longer-lived process.

Every entry point configures the ``mmdistill`` logger for a command line (:func:`mmdistill.logs.configure_logging`:
its own stderr handler, INFO, no propagation). A program ends after its command, but a notebook's ``%run
recipes/image_dm.py ...``, ``Recipe.main([...])`` or ``mmdistill.cli.main([...])`` called from a script or a test
runs in a process that goes on: the API calls after it logged through the command's handler and never reached the
user's own logging (``logging.basicConfig``, a notebook's handlers). Only the standard library is imported here, so the
command module stays light.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator


@contextlib.contextmanager
def logging_given_back() -> Iterator[None]:
    """Run a command, then give the ``mmdistill`` logger its handlers, level and propagation back."""
    logger = logging.getLogger("mmdistill")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    try:
        yield
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


__all__ = ["logging_given_back"]
