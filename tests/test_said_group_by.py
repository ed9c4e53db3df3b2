"""One wording of the ``group_by`` key in messages (walk 55B): nine messages across the audio, video, audio-visual and
shared group modules wrote ``group_by={quoted(...)} (--group-by)`` by hand beside the helper that says it
(:func:`modalities.groups.said_group_by`, then in ``video/groups.py``); they now call it, from the shared module."""

from __future__ import annotations

import re
from pathlib import Path

import mmdistill.modalities as modalities

#: the audio named-dataset modules walk 55E changes (ESC-50, UrbanSound8K): folded in when that walk has landed
LEFT = {"audio/find.py", "audio/fsdd.py"}


def test_messages_name_group_by_through_the_shared_helper():
    from mmdistill.modalities.groups import said_group_by
    from mmdistill.modalities.video.groups import said_group_by as video_said

    assert video_said is said_group_by and said_group_by(r"spk(\d+)") == r"group_by='spk(\d+)' (--group-by)"
    root = Path(modalities.__file__).parent
    by_hand = re.compile(r"group_by=\{(quoted\()?[^}]*\}?\)? \(--group-by\)|group_by=\{[a-z_.]+!r\} \(--group-by\)")
    found = sorted(f"{p.relative_to(root).as_posix()}:{n}" for p in root.rglob("*.py") for n, line in
                   enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                   if by_hand.search(line) and "return f\"group_by=" not in line and p.relative_to(root).as_posix() not in LEFT)
    assert found == []
