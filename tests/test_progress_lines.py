"""Walk 50D (watching a long run): a progress bar on a stderr that is no terminal (``mmdistill run ... 2> run.log``, a
batch job's output file) writes lines, each with the time, that ``tail -f``, ``grep`` and ``less`` show one by one."""

from __future__ import annotations

import io
import logging
import re

from mmdistill import logs

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "


def test_a_bar_in_a_log_file_writes_one_time_stamped_line_per_frame(monkeypatch):
    """The frames were ``\\r`` + bar with no line end: the whole run's progress, and any message written between two
    frames (``SIGTERM received: stopping ...``), was one line of the file."""
    err = io.StringIO()  # a log file: isatty() is False
    monkeypatch.setattr(logs.sys, "stderr", err)
    logs.configure_logging()
    try:
        bar = logs.progress_bar(total=3, desc="image-dm, 10 synthetic", mininterval=0, miniters=1)
        bar.update(1)
        logging.getLogger("mmdistill.test").info("SIGTERM received: stopping")
        bar.set_postfix(loss="0.0049", refresh=False)
        bar.update(2)
        bar.close()
    finally:
        logging.getLogger("mmdistill").handlers[:] = []
    text = err.getvalue()
    assert "\r" not in text and text.endswith("\n"), repr(text)
    lines = text.splitlines()
    frames = [line for line in lines if "image-dm, 10 synthetic" in line]
    assert len(frames) >= 3 and all(re.match(STAMP + r"image-dm, 10 synthetic: +\d+%", f) for f in frames), lines
    assert "3/3" in frames[-1] and frames[-1].endswith("loss=0.0049]"), frames[-1]  # the last frame, no padding
    assert "SIGTERM received: stopping" in lines and all(line.strip() for line in lines), lines  # its own line, no blank ones


def test_a_bar_on_a_terminal_is_still_redrawn_in_place(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(logs.sys, "stderr", Terminal())
    bar = logs.progress_bar(total=2, desc="x", mininterval=0, miniters=1)
    bar.update(2)
    bar.close()
    assert "\r" in logs.sys.stderr.getvalue() and not re.search(STAMP, logs.sys.stderr.getvalue())
