"""Copy-paste of an image's own small objects to free places of the same image, class by class.

The object-level augmentation of Kisantal et al., 2019 ("Augmentation for small object
detection"): small objects are few per image and cover little of it, so copies pasted where
nothing is make more of them to learn from, and a rare class can be given more copies than the
others. mmdet's ``CopyPaste`` does another job: it pastes masks (or whole boxes) from a second
image of the same size at their own positions, covering what is there, with no class choice.

Box convention: ``gt_bboxes`` are mmdet's ``HorizontalBoxes`` in 0-based pixel coordinates
(x1, y1, x2, y2), x2/y2 exclusive. A box is copied with the whole pixels it touches
(floor of x1/y1, ceil of x2/y2) and moved by whole pixels, so the pasted box is the copied one
shifted and keeps its sub-pixel position in the copied pixels.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import autocast_box_type


def _pixel_rects(boxes: np.ndarray) -> np.ndarray:
    """Integer (x1, y1, x2, y2) of the pixels each box (inside the image) touches."""
    return np.concatenate([np.floor(boxes[:, :2]), np.ceil(boxes[:, 2:])], axis=1).astype(np.int64)


def _overlaps_any(rect: np.ndarray, rects: np.ndarray) -> bool:
    """Whether ``rect`` shares at least one pixel with any of ``rects`` (integer, x2/y2 exclusive)."""
    inter_w = np.minimum(rect[2], rects[:, 2]) - np.maximum(rect[0], rects[:, 0])
    inter_h = np.minimum(rect[3], rects[:, 3]) - np.maximum(rect[1], rects[:, 1])
    return bool(((inter_w > 0) & (inter_h > 0)).any())


@TRANSFORMS.register_module()
class InImageCopyPaste(BaseTransform):
    """Paste ``copies[label]`` copies of each small, not-ignored box at free places of its own image.

    With probability ``prob`` per image: every box whose width and height are at most ``max_size``
    times the image's (and at least 2 pixels) and whose ``gt_ignore_flags`` is False is copied
    ``copies[label]`` times, in random order, at most ``max_pasted`` copies an image. Each copy
    goes to a place drawn uniformly at random where it shares no pixel with any box, given
    (ignored ones included) or pasted; after ``tries`` failed draws that copy is skipped. The
    pixels come from the image as loaded, never from another copy.

    Required keys: img, gt_bboxes, gt_bboxes_labels, gt_ignore_flags.
    Modified keys: img, gt_bboxes, gt_bboxes_labels, gt_ignore_flags (copies appended, not ignored).

    Args:
        copies: copies of each box per class, indexed by label (the dataset's class order).
        prob: probability that an image gets copies at all.
        max_size: largest box side copied, as a fraction of the image's side.
        max_pasted: most copies pasted into one image.
        tries: random places tried for each copy.
    """

    def __init__(self, copies: Sequence[int], prob: float = 0.5, max_size: float = 0.25,
                 max_pasted: int = 10, tries: int = 10) -> None:
        if isinstance(copies, (str, bytes)) or not isinstance(copies, Sequence) or not copies \
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in copies):
            raise ValueError(f'InImageCopyPaste: copies must be a list of whole numbers >= 0, one per class '
                             f'in the order of the dataset\'s classes (e.g. copies=[2, 1, 1]), got {copies!r}')
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'InImageCopyPaste: prob must be between 0 and 1, got {prob!r}')
        if not 0.0 < max_size <= 1.0:
            raise ValueError(f'InImageCopyPaste: max_size is a fraction of the image side in (0, 1], got {max_size!r}')
        if max_pasted < 0 or tries < 1:
            raise ValueError(f'InImageCopyPaste: max_pasted must be >= 0 and tries >= 1, '
                             f'got max_pasted={max_pasted!r}, tries={tries!r}')
        self.copies = list(copies)
        self.prob = prob
        self.max_size = max_size
        self.max_pasted = max_pasted
        self.tries = tries

    def _copy_list(self, boxes: np.ndarray, labels: np.ndarray, ignored: np.ndarray,
                   width: int, height: int) -> np.ndarray:
        """Indices of the boxes to copy, each repeated per its class's copies, shuffled."""
        if len(labels) and labels.max() >= len(self.copies):
            raise ValueError(f'InImageCopyPaste: a box has label {int(labels.max())} but copies gives '
                             f'{len(self.copies)} classes ({self.copies}); give one count per class of the dataset')
        sizes = boxes[:, 2:] - boxes[:, :2]
        small = ((sizes[:, 0] <= self.max_size * width) & (sizes[:, 1] <= self.max_size * height)
                 & (sizes >= 2).all(axis=1) & ~ignored)
        counts = np.where(small, np.asarray(self.copies, dtype=np.int64)[labels.astype(np.int64)], 0)
        chosen = np.repeat(np.arange(len(labels)), counts)
        return np.random.permutation(chosen)

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Paste the copies into ``results`` (see the class docstring); returns ``results``."""
        if np.random.rand() >= self.prob or self.max_pasted == 0:
            return results
        img = results['img']
        height, width = img.shape[:2]
        bboxes = results['gt_bboxes']  # HorizontalBoxes here, whatever came in (autocast_box_type)
        boxes = bboxes.numpy().astype(np.float64)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        labels = np.asarray(results['gt_bboxes_labels'])
        ignored = np.asarray(results['gt_ignore_flags'], dtype=bool)
        order = self._copy_list(boxes, labels, ignored, width, height)
        if len(order) == 0:
            return results
        source = img.copy()
        rects = _pixel_rects(boxes)
        taken = rects  # the given boxes' pixels, then each pasted copy's
        new_boxes, new_labels = [], []
        for index in order:
            if len(new_boxes) == self.max_pasted:
                break
            x1, y1, x2, y2 = rects[index]
            w, h = x2 - x1, y2 - y1
            if w >= width or h >= height:  # every place would cover the box itself
                continue
            for _ in range(self.tries):
                nx, ny = np.random.randint(0, width - w + 1), np.random.randint(0, height - h + 1)
                place = np.array([nx, ny, nx + w, ny + h])
                if not _overlaps_any(place, taken):
                    img[ny:ny + h, nx:nx + w] = source[y1:y2, x1:x2]
                    new_boxes.append(boxes[index] + np.array([nx - x1, ny - y1] * 2, dtype=np.float64))
                    new_labels.append(labels[index])
                    taken = np.concatenate([taken, place[None]])
                    break
        if not new_boxes:
            return results
        added = np.stack(new_boxes).astype(np.float32)
        results['gt_bboxes'] = bboxes.cat([bboxes, type(bboxes)(added)])
        results['gt_bboxes_labels'] = np.concatenate([labels, np.asarray(new_labels, labels.dtype)])
        results['gt_ignore_flags'] = np.concatenate([ignored, np.zeros(len(new_labels), dtype=bool)])
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(copies={self.copies}, prob={self.prob}, max_size={self.max_size}, '
                f'max_pasted={self.max_pasted}, tries={self.tries})')
