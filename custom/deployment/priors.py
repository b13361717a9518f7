"""mmdet's prior generators in numpy: the points of ``MlvlPointGenerator`` and the anchors of
``AnchorGenerator`` (and its SSD and YOLO kinds) on a feature map, in mmdet's order (row by row, x fastest,
the base priors of a location together).

``spec`` is the ``priors`` mapping of :mod:`custom.deployment.metadata`: ``type`` ``points`` (``strides``
[(w, h)], ``offset``) or ``anchors`` (``strides``, ``base_anchors`` per level, each (A, 4)).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def grid_shifts(height: int, width: int, stride: Sequence[float], offset: float = 0.0) -> tuple[np.ndarray, ...]:
    """x and y of every location of a ``height`` x ``width`` map, row by row (float32)."""
    shift_x = (np.arange(width, dtype=np.float32) + np.float32(offset)) * np.float32(stride[0])
    shift_y = (np.arange(height, dtype=np.float32) + np.float32(offset)) * np.float32(stride[1])
    return np.tile(shift_x, height), np.repeat(shift_y, width)


def level_priors(spec: Mapping[str, Any], level: int, height: int, width: int) -> np.ndarray:
    """The priors of one level: points (H*W, 2) or anchors (H*W*A, 4)."""
    stride = spec['strides'][level]
    if spec['type'] == 'points':
        xx, yy = grid_shifts(height, width, stride, spec.get('offset', 0.0))
        return np.stack([xx, yy], axis=-1)
    base = np.asarray(spec['base_anchors'][level], np.float32).reshape(-1, 4)
    xx, yy = grid_shifts(height, width, stride)
    shifts = np.stack([xx, yy, xx, yy], axis=-1)
    return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)


def multilevel_priors(spec: Mapping[str, Any], sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """:func:`level_priors` of every level, ``sizes`` the (H, W) of each feature map."""
    return [level_priors(spec, level, h, w) for level, (h, w) in enumerate(sizes)]
