"""An installed package as the tests need one: its module and the ``.dist-info`` metadata (name, version, summary, entry
points) that ``pip install`` writes, in a site folder to put on ``sys.path`` (``importlib.metadata`` reads it there)."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_package(site: Path, package: str, code: str | None, entry_points: str, *, summary: str | None = None) -> Path:
    """``site/<package>/__init__.py`` holding ``code`` (dedented; None: no module, metadata only) and
    ``site/<package>-0.1.dist-info`` with METADATA (the distribution's name is ``package`` with ``-`` for ``_``) and
    ``entry_points.txt`` (``entry_points``, its text: ``[group]\\nname = module:attr\\n``); returns ``site``."""
    if code is not None:
        (site / package).mkdir(parents=True)
        (site / package / "__init__.py").write_text(textwrap.dedent(code))
    info = site / f"{package}-0.1.dist-info"
    info.mkdir(parents=True)
    meta = f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 0.1\n"
    (info / "METADATA").write_text(meta + (f"Summary: {summary}\n" if summary is not None else ""))
    (info / "entry_points.txt").write_text(entry_points)
    return site
