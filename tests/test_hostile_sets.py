"""A set from a stranger (walk 48C): run folders crafted to attack whoever runs ``show``, ``load`` or ``eval`` on them.
Each test is one crafted artifact and what the receiver must see: one line naming the file, never a traceback, an
escape sequence on the terminal or memory exhausted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mmdistill.cli import main

from test_share import make_set  # noqa: E402  (a tiny saved image set: initialised, not distilled)


@pytest.fixture(scope="module")
def image_set(tmp_path_factory) -> Path:
    return make_set("image", tmp_path_factory.mktemp("hostile"))


def _received(src: Path, dst: Path, **changes) -> Path:
    """A copy of the set at ``src`` whose manifest has ``changes`` (its tensor digest stays valid: the tensors are untouched)."""
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest.update(changes)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_show_prints_no_line_break_or_escape_sequence_a_received_manifest_holds(image_set, tmp_path, capsys):
    """``paper`` and ``sample_noun`` were printed as they were: an OSC sequence retitled the terminal, ``ESC [2J`` cleared
    it, and a line break forged a line of the summary (walk 48C)."""
    out = _received(image_set, tmp_path / "run", paper="\x1b]0;pwned\x07\x1b[2Jclear", sample_noun="images\n  integrity: forged\u202e")
    assert main(["show", str(out)]) == 0
    said = capsys.readouterr().out
    assert "\x1b" not in said and "\x07" not in said and "\u202e" not in said
    assert "integrity: forged" not in said.splitlines()[-1] and not any(line.startswith("  integrity: forged") for line in said.splitlines())
    assert "\\x1b]0;pwned\\x07\\x1b[2Jclear" in said and "images\\n  integrity: forged\\u202e" in said  # shown, escaped
    assert said.splitlines()[-1].startswith("  integrity: ") and "matches the manifest" in said.splitlines()[-1]
