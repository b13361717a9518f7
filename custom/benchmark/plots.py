"""The report's two figures: speed against accuracy, and per-class AP of every model.

Both are fixed-size PNGs whatever the number of models; models are numbered in the order of
the report, with ``number: name`` in a legend under the axes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from custom.visualization.mpl import PLOT_DPI, pyplot, save_figure

SCATTER_PX = (800, 500)     # speed_vs_map.png, width x height in pixels
PER_CLASS_PX = (1100, 420)  # per_class_ap.png


def _figsize(pixels: tuple[int, int]) -> tuple[float, float]:
    """Matplotlib's figure size in inches for ``pixels`` at :data:`PLOT_DPI`."""
    return pixels[0] / PLOT_DPI, pixels[1] / PLOT_DPI


def _legend_below(fig: Any, handles: list, labels: list[str], ncol: int) -> None:
    """A figure legend under the axes, with room kept for its rows (the figure size stays fixed)."""
    rows = max(1, math.ceil(len(labels) / ncol))
    height_px = fig.get_size_inches()[1] * fig.dpi
    bottom = min(0.45, (rows * 16 + 12) / height_px)
    if labels:
        fig.legend(handles, labels, loc='lower center', ncol=ncol, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, bottom if labels else 0, 1, 1))


def plot_speed_vs_map(models: Sequence[Mapping], out_png: str | Path) -> str:
    """Scatter of inference ms/img (x) against test mAP50 (filled) and mAP50:95 (hollow); return ``out_png``.

    Points carry the model's number; the legend under the plot gives ``number: name``.
    The PNG is :data:`SCATTER_PX` pixels whatever the number of models.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=_figsize(SCATTER_PX), dpi=PLOT_DPI)
    handles, labels = [], []
    for i, m in enumerate(models):
        color, x = f'C{i % 10}', m.get('ms_per_img')
        a50, a5095 = m.get('mAP50'), m.get('mAP50:95')
        if x is None or a50 is None:
            continue
        handles.append(ax.scatter([x], [a50], color=color, s=60))
        labels.append(f"{i + 1}: {m['name']}")
        if a5095 is not None:
            ax.scatter([x], [a5095], facecolors='none', edgecolors=color, s=60)
            ax.plot([x, x], [a5095, a50], color=color, lw=0.8, alpha=0.6)
        ax.annotate(str(i + 1), (x, a50), textcoords='offset points', xytext=(6, 4), fontsize=9, color=color)
    xs = [m['ms_per_img'] for m in models if m.get('ms_per_img')]
    if xs and max(xs) / min(xs) > 10:
        ax.set_xscale('log')
    ax.margins(x=0.15)
    ax.set(xlabel='inference ms/image (batch 1, lower is better)', ylabel='test mAP', ylim=(0, 1),
           title='speed vs accuracy (filled: mAP50, hollow: mAP50:95)')
    ax.grid(alpha=0.3)
    _legend_below(fig, handles, labels, ncol=2)
    save_figure(fig, out_png)
    return str(out_png)


def plot_per_class_ap(models: Sequence[Mapping], out_png: str | Path) -> str:
    """Grouped bars of per-class AP50 (left) and AP50:95 (right), one bar per model and class; return ``out_png``.

    The PNG is :data:`PER_CLASS_PX` pixels; models from different datasets share the x axis
    (each draws the classes it has).
    """
    plt = pyplot()
    from matplotlib.patches import Patch
    fig, axes = plt.subplots(1, 2, figsize=_figsize(PER_CLASS_PX), dpi=PLOT_DPI)
    handles: dict[str, Any] = {}
    for ax, key, label in zip(axes, ('per_class_AP50', 'per_class_AP50:95'), ('AP50', 'AP50:95')):
        classes: list[str] = []
        for m in models:
            classes += [c for c in (m.get(key) or {}) if c not in classes]
        width = 0.8 / max(1, len(models))
        for i, m in enumerate(models):
            values = m.get(key) or {}
            xs = [j + i * width for j, c in enumerate(classes) if values.get(c) is not None]
            ys = [values[c] for c in classes if values.get(c) is not None]
            ax.bar(xs, ys, width, color=f'C{i % 10}')
            handles.setdefault(f"{i + 1}: {m['name']}", Patch(color=f'C{i % 10}'))
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(classes))], classes, rotation=15)
        ax.set(ylim=(0, 1), ylabel=f'test {label}', title=f'per-class {label}')
        ax.grid(axis='y', alpha=0.3)
    _legend_below(fig, list(handles.values()), list(handles), ncol=3)
    save_figure(fig, out_png)
    return str(out_png)
