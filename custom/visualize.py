"""Pictures of detections and evaluation plots (PIL for images, matplotlib with Agg for plots).

Boxes are COCO ``[x, y, w, h]`` in image pixels; class colours come from the dataset
palette in the config's ``metainfo`` (RGB tuples), with a fixed fallback for classes it lacks.
No torch import.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PLOT_DPI = 100
FALLBACK_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
GAP = 8          # pixels between the two panels of a side-by-side picture
HEADER_PX = 28   # caption strip above a side-by-side picture


def class_colors(n_classes: int, palette: Sequence | None = None) -> list[tuple[int, int, int]]:
    """One RGB colour per class: the dataset palette, then a fixed fallback cycle."""
    palette = list(palette or [])
    return [tuple(int(v) for v in palette[i]) if i < len(palette) else FALLBACK_PALETTE[i % len(FALLBACK_PALETTE)]
            for i in range(n_classes)]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def draw_boxes(image: Image.Image, boxes: np.ndarray, labels: Sequence[int], classes: Sequence[str],
               colors: Sequence[tuple[int, int, int]], scores: Sequence[float] | None = None,
               tags: Sequence[str] | None = None) -> Image.Image:
    """A copy of ``image`` with each box in its class colour and a caption "[tag ]class[ score]".

    ``labels`` index ``classes``/``colors``; ``tags`` (e.g. 'FP', 'FN') prefix the caption.
    """
    out = image.convert('RGB')
    draw = ImageDraw.Draw(out)
    size = max(10, round(min(out.size) / 32))
    font = _font(size)
    width = max(1, round(min(out.size) / 200))
    for i, (box, label) in enumerate(zip(np.asarray(boxes, dtype=float).reshape(-1, 4), labels)):
        x, y, w, h = box
        color = colors[int(label)]
        draw.rectangle([x, y, x + w, y + h], outline=color, width=width)
        text = classes[int(label)]
        if scores is not None:
            text += f' {scores[i]:.2f}'
        if tags is not None and tags[i]:
            text = f'{tags[i]} {text}'
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top + 2
        ty = y - th if y - th >= 0 else y
        draw.rectangle([x, ty, x + tw + 2, ty + th], fill=color)
        luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        draw.text((x + 1, ty - top + 1), text, fill=(0, 0, 0) if luminance > 150 else (255, 255, 255), font=font)
    return out


def side_by_side(left: Image.Image, right: Image.Image, caption: str = '') -> Image.Image:
    """``left`` and ``right`` (same size) next to each other under a caption strip.

    The result is ``(2 * W + GAP, H + HEADER_PX)``.
    """
    w, h = left.size
    out = Image.new('RGB', (2 * w + GAP, h + HEADER_PX), (255, 255, 255))
    out.paste(left, (0, HEADER_PX))
    out.paste(right.resize(left.size) if right.size != left.size else right, (w + GAP, HEADER_PX))
    ImageDraw.Draw(out).text((4, 4), caption, fill=(0, 0, 0), font=_font(16))
    return out


# --------------------------------------------------------------------------- plots
def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def confusion_px(n_classes: int) -> tuple[int, int]:
    """Pixel size of :func:`plot_confusion_matrix`'s PNG for ``n_classes`` (plus background)."""
    side = max(6.0, 0.9 * (n_classes + 1) + 3.0)
    return int(round((side + 1.0) * PLOT_DPI)), int(round(side * PLOT_DPI))


def plot_confusion_matrix(matrix: np.ndarray, labels: Sequence[str], out_png: str | Path,
                          title: str = '') -> Path:
    """Counts with colours by row share (rows: ground truth, columns: prediction); size :func:`confusion_px`."""
    plt = _pyplot()
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
    return _save(fig, out_png, plt)


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
    plt = _pyplot()
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
    return _save(fig, out_png, plt)


def ap_bar_px(n_classes: int) -> tuple[int, int]:
    """Pixel size of :func:`plot_ap_per_class`'s PNG."""
    return int(round(max(6.0, 0.8 * n_classes + 2.0) * PLOT_DPI)), int(round(4.0 * PLOT_DPI))


def plot_ap_per_class(ap50: dict, ap5095: dict, out_png: str | Path, title: str = '') -> Path:
    """Grouped bars of AP50 and AP50:95 per class (n/a classes left empty); size :func:`ap_bar_px`."""
    plt = _pyplot()
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
    return _save(fig, out_png, plt)


def _save(fig, out_png: str | Path, plt) -> Path:
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=PLOT_DPI)
    plt.close(fig)
    return out_png


def image_grid(images: Sequence[Image.Image], captions: Sequence[str], cols: int, cell: int = 320) -> Image.Image:
    """Images fitted into ``cell`` x ``cell`` tiles (aspect kept) with a caption under each, ``cols`` a row.

    The result is ``(cols * cell, rows * (cell + 20))``.
    """
    rows = -(-len(images) // cols)
    out = Image.new('RGB', (cols * cell, rows * (cell + 20)), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    font = _font(13)
    for i, (img, caption) in enumerate(zip(images, captions)):
        r, c = divmod(i, cols)
        tile = img.copy()
        tile.thumbnail((cell, cell))
        x0, y0 = c * cell + (cell - tile.width) // 2, r * (cell + 20) + (cell - tile.height) // 2
        out.paste(tile, (x0, y0))
        draw.text((c * cell + 4, r * (cell + 20) + cell + 3), caption, fill=(0, 0, 0), font=font)
    return out
