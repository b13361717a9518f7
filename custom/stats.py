"""Dataset statistics for EDA from a COCO dict: class counts, objects per image, box geometry.

Pure Python, light imports (no numpy/matplotlib): cheap enough to run on every conversion.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence


def _summary(values: Sequence[float]) -> dict[str, float]:
    """min / percentiles / max / mean of ``values`` (empty -> {})."""
    if not values:
        return {}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {'min': ordered[0], 'p5': pct(5), 'p25': pct(25), 'median': pct(50), 'p75': pct(75),
            'p95': pct(95), 'max': ordered[-1], 'mean': round(sum(ordered) / len(ordered), 3)}


def coco_statistics(coco: dict) -> dict:
    """Counts and distributions of one COCO split, as plain JSON-ready numbers.

    Box sizes are in pixels of the original image; ``size_bucket`` uses COCO's
    small (< 32x32) / medium / large (> 96x96) areas that mAP_s/m/l are computed on.
    """
    names = {c['id']: c['name'] for c in coco['categories']}
    anns = coco['annotations']
    per_image = Counter(a['image_id'] for a in anns)
    objects = [per_image.get(im['id'], 0) for im in coco['images']]
    widths = [a['bbox'][2] for a in anns]
    heights = [a['bbox'][3] for a in anns]
    areas = [a['area'] for a in anns]
    buckets = Counter('small' if a < 32 ** 2 else 'medium' if a <= 96 ** 2 else 'large' for a in areas)
    class_counts = Counter(names[a['category_id']] for a in anns)
    images_with = Counter(names[c] for im, cats in _cats_per_image(anns).items() for c in cats)
    return {
        'images': len(coco['images']), 'boxes': len(anns),
        'empty_images': sum(1 for n in objects if n == 0),
        'crowd_or_difficult_boxes': sum(1 for a in anns if a.get('iscrowd')),
        'boxes_per_class': {n: class_counts.get(n, 0) for n in names.values()},
        'images_per_class': {n: images_with.get(n, 0) for n in names.values()},
        'objects_per_image': _summary(objects),
        'box_width': _summary(widths), 'box_height': _summary(heights), 'box_area': _summary(areas),
        'box_aspect_w_over_h': _summary([w / h for w, h in zip(widths, heights) if h > 0]),
        'size_bucket': {k: buckets.get(k, 0) for k in ('small', 'medium', 'large')},
    }


def _cats_per_image(anns: Sequence[dict]) -> dict[int, set[int]]:
    cats: dict[int, set[int]] = {}
    for a in anns:
        cats.setdefault(a['image_id'], set()).add(a['category_id'])
    return cats
