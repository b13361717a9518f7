"""Pictures of boxes with PIL: boxes with labels and scores, side-by-side panels, image grids.

Boxes are COCO ``[x, y, w, h]`` in image pixels; class colours come from the dataset
palette in the config's ``metainfo`` (RGB tuples), with a fixed fallback for classes it lacks.
No torch import.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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
