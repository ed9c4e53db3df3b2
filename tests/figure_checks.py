"""What the picture tests check of a drawn figure: its text boxes (as the renderer places them), none over another,
all inside the figure. The ``drawn`` fixture (tests/conftest.py) keeps the figures ``save_figure`` would write."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import mmdistill.plots as plots


def drawn_figures(monkeypatch: Any) -> Iterator[list[Any]]:
    """The figures the pictures draw, laid out as ``save_figure`` lays them out (tight layout, titles and axis labels
    fitted, drawn) but not written; closed at the end."""
    figs: list[Any] = []

    def keep(fig: Any, path: Any, what: str = "text") -> Path:
        fig.tight_layout()
        if plots.fit_titles(fig) | plots.fit_axis_labels(fig):
            fig.tight_layout()
        fig.canvas.draw()  # places the axis labels as savefig does
        figs.append(fig)
        return Path(path)

    monkeypatch.setattr(plots, "save_figure", keep)
    yield figs
    for fig in figs:
        plots.pyplot().close(fig)


def text_boxes(fig: Any, texts: Any) -> list[Any]:
    """The window boxes of the visible, non-empty ``texts`` of ``fig``."""
    renderer = plots._renderer(fig)
    return [t.get_window_extent(renderer) for t in texts if t.get_text() and t.get_visible()]


def apart(boxes: list[Any]) -> bool:
    """Whether no box overlaps another."""
    return not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def inside(fig: Any, boxes: list[Any]) -> bool:
    """Whether every box lies inside ``fig`` (a pixel of slack at the right)."""
    w, h = fig.canvas.get_width_height()
    return all(b.x0 >= 0 and b.x1 <= w + 1 and b.y0 >= 0 for b in boxes)
