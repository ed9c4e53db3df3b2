"""The package's ``>>>`` examples run (help() shows them to a user: a wrong one is wrong documentation; walk 53F)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package folder -> import prefix (modalities/ and recipes/ install as mmdistill.modalities / mmdistill.recipes)
PACKAGES = {"mmdistill": "mmdistill", "modalities": "mmdistill.modalities", "recipes": "mmdistill.recipes"}
# the central public API whose help() carries a runnable example
MUST_HAVE = {"mmdistill.data", "mmdistill.synthetic", "mmdistill.nets", "mmdistill.augment", "mmdistill.evaluation",
             "mmdistill.modalities.audio.features"}


def _modules_with_examples() -> list[str]:
    found = []
    for folder, prefix in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ">>>" not in path.read_text(encoding="utf-8"):
                continue
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append(".".join([prefix, *parts]))
    return found


MODULES = _modules_with_examples()


def test_the_central_api_has_examples() -> None:
    assert MUST_HAVE <= set(MODULES), sorted(MUST_HAVE - set(MODULES))


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=True, verbose=False)
    assert result.attempted > 0, f"{name} has '>>>' but no example doctest collects"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (output above)"
