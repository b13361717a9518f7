"""The one matplotlib setup of the project: a headless backend, imported only when a plot is drawn."""
from __future__ import annotations

from pathlib import Path
from typing import Any

PLOT_DPI = 100  # every PNG plot: figure sizes are given in pixels / PLOT_DPI


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed: servers, CI, SSH sessions)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig: Any, out_png: str | Path, dpi: int = PLOT_DPI) -> Path:
    """Save ``fig`` as PNG (creating the folder), close it and return the path."""
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=dpi)
    pyplot().close(fig)
    return out_png
