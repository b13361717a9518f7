"""Evaluation plots: confusion matrix, precision-recall curves per class, AP per class (matplotlib)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from custom.visualization.mpl import PLOT_DPI, pyplot, save_figure


def confusion_px(n_classes: int) -> tuple[int, int]:
    """Pixel size of :func:`plot_confusion_matrix`'s PNG for ``n_classes`` (plus background)."""
    side = max(6.0, 0.9 * (n_classes + 1) + 3.0)
    return int(round((side + 1.0) * PLOT_DPI)), int(round(side * PLOT_DPI))


def plot_confusion_matrix(matrix: np.ndarray, labels: Sequence[str], out_png: str | Path,
                          title: str = '') -> Path:
    """Counts with colours by row share (rows: ground truth, columns: prediction); size :func:`confusion_px`."""
    plt = pyplot()
    matrix = np.asarray(matrix)
    n = len(labels)
    w, h = confusion_px(n - 1)
    fig, ax = plt.subplots(figsize=(w / PLOT_DPI, h / PLOT_DPI), dpi=PLOT_DPI)
    rows = matrix.sum(1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    im = ax.imshow(share, cmap='Blues', vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, f'{matrix[i, j]}\n{share[i, j]:.0%}', ha='center', va='center', fontsize=8,
                        color='white' if share[i, j] > 0.6 else 'black')
    ax.set_xticks(range(n), labels, rotation=45, ha='right')
    ax.set_yticks(range(n), labels)
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    ax.set_title(title or 'Confusion matrix')
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label='share of the ground-truth row')
    fig.tight_layout()
    return save_figure(fig, out_png)


def pr_px(n_classes: int) -> tuple[int, int]:
    """Pixel size of :func:`plot_pr_curves`'s PNG: up to 4 panels a row, 4 x 3.4 in each."""
    cols = min(4, max(1, n_classes))
    rows = -(-max(1, n_classes) // cols)
    return int(round(4.0 * cols * PLOT_DPI)), int(round(3.4 * rows * PLOT_DPI))


def plot_pr_curves(precision: np.ndarray, rec_thrs: np.ndarray, iou_thrs: np.ndarray, classes: Sequence[str],
                   class_index: Sequence[int], out_png: str | Path, operating_points: dict | None = None) -> Path:
    """Precision-recall curve per class from COCOeval's ``precision`` (T, R, K, A, M), area all, last maxDet.

    One panel per class with IoU 0.50, 0.75 and the mean over 0.50:0.95; ``operating_points``
    (class -> {'precision', 'recall'}) marks each class's best-F1 point. Size :func:`pr_px`.
    """
    plt = pyplot()
    w, h = pr_px(len(classes))
    cols = min(4, max(1, len(classes)))
    rows = -(-max(1, len(classes)) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(w / PLOT_DPI, h / PLOT_DPI), dpi=PLOT_DPI, squeeze=False)
    t50 = int(np.flatnonzero(np.isclose(iou_thrs, 0.5))[0])
    t75 = np.flatnonzero(np.isclose(iou_thrs, 0.75))
    for ax in axes.flat[len(classes):]:
        ax.axis('off')
    for ax, name, k in zip(axes.flat, classes, class_index):
        p = precision[:, :, k, 0, -1]
        if (p[t50] < 0).all():
            ax.text(0.5, 0.5, 'no ground truth', ha='center', va='center', transform=ax.transAxes)
        else:
            ap50 = p[t50].mean()
            ax.plot(rec_thrs, p[t50], label=f'IoU 0.50 (AP {ap50:.3f})', color='tab:blue')
            if len(t75):
                ax.plot(rec_thrs, p[t75[0]], label=f'IoU 0.75 (AP {p[t75[0]].mean():.3f})', color='tab:orange')
            ax.plot(rec_thrs, p.mean(0), label=f'mean 0.50:0.95 (AP {p.mean():.3f})', color='tab:green', ls='--')
            point = (operating_points or {}).get(name)
            if point and point.get('score_thr') is not None:
                ax.plot(point['recall'], point['precision'], 'o', color='red',
                        label=f'best F1 {point["f1"]:.2f} @ score {point["score_thr"]:.2f}')
            ax.legend(fontsize=7, loc='lower left')
        ax.set(title=name, xlabel='recall', ylabel='precision', xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out_png)


def ap_bar_px(n_classes: int) -> tuple[int, int]:
    """Pixel size of :func:`plot_ap_per_class`'s PNG."""
    return int(round(max(6.0, 0.8 * n_classes + 2.0) * PLOT_DPI)), int(round(4.0 * PLOT_DPI))


def plot_ap_per_class(ap50: dict, ap5095: dict, out_png: str | Path, title: str = '') -> Path:
    """Grouped bars of AP50 and AP50:95 per class (n/a classes left empty); size :func:`ap_bar_px`."""
    plt = pyplot()
    names = list(ap50)
    w, h = ap_bar_px(len(names))
    fig, ax = plt.subplots(figsize=(w / PLOT_DPI, h / PLOT_DPI), dpi=PLOT_DPI)
    x = np.arange(len(names))
    for offset, values, label, color in ((-0.2, ap50, 'AP50', 'tab:blue'), (0.2, ap5095, 'AP50:95', 'tab:orange')):
        heights = [values.get(n) if values.get(n) is not None else 0.0 for n in names]
        bars = ax.bar(x + offset, heights, 0.4, label=label, color=color)
        for bar, n in zip(bars, names):
            text = 'n/a' if values.get(n) is None else f'{values[n]:.2f}'
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, text, ha='center', fontsize=8)
    ax.set_xticks(x, names, rotation=20 if len(names) > 6 else 0)
    ax.set(ylim=(0, 1.1), ylabel='average precision', title=title or 'AP per class')
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, out_png)
