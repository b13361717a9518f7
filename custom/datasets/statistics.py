"""Dataset statistics for EDA from a COCO dict: class counts, objects per image, box geometry.

Pure Python, light imports (no numpy/matplotlib): cheap enough to run on every conversion.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from operator import itemgetter
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
    image_ids = list(map(itemgetter('image_id'), anns))  # map/itemgetter: C loops, this runs on every conversion
    cat_ids = list(map(itemgetter('category_id'), anns))
    boxes = list(map(itemgetter('bbox'), anns))
    per_image = Counter(image_ids)
    objects = [per_image.get(im['id'], 0) for im in coco['images']]
    widths, heights = list(map(itemgetter(2), boxes)), list(map(itemgetter(3), boxes))
    areas = sorted(map(itemgetter('area'), anns))
    small, large = bisect_left(areas, 32 ** 2), bisect_right(areas, 96 ** 2)
    class_counts = Counter(cat_ids)
    images_with = Counter(c for _, c in set(zip(image_ids, cat_ids)))
    return {
        'images': len(coco['images']), 'boxes': len(anns),
        'empty_images': objects.count(0),
        'crowd_or_difficult_boxes': sum(1 for a in anns if a.get('iscrowd')),
        'boxes_per_class': {n: class_counts.get(i, 0) for i, n in names.items()},
        'images_per_class': {n: images_with.get(i, 0) for i, n in names.items()},
        'objects_per_image': _summary(objects),
        'box_width': _summary(widths), 'box_height': _summary(heights), 'box_area': _summary(areas),
        'box_aspect_w_over_h': _summary([w / h for w, h in zip(widths, heights) if h > 0]),
        'size_bucket': {'small': small, 'medium': large - small, 'large': len(areas) - large},
    }
