"""The test pipeline (``Resize``, ``Pad``) and the data preprocessor (channel order, normalisation, batch
padding) in numpy and OpenCV, as mmcv and mmengine compute them.

``spec`` is the ``preprocess`` mapping of :mod:`custom.deployment.metadata`: ``resize`` (``scale`` (w, h),
``keep_ratio``) or None, ``pad`` (``size`` (w, h) or ``size_divisor``, ``pad_val``) or None, ``mean``, ``std``,
``bgr_to_rgb``, ``pad_size_divisor`` and ``pad_value`` of the data preprocessor.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

import cv2
import numpy as np


class ImageMeta(NamedTuple):
    """What post-processing needs of one image: ``img_shape`` (h, w) after the pipeline (mmcv's ``Pad`` sets it to
    the padded shape) and ``scale_factor`` (w, h) of the resize."""

    img_shape: tuple[int, int]
    scale_factor: tuple[float, float]


def rescale_size(width: int, height: int, scale: Sequence[int]) -> tuple[int, int]:
    """mmcv's ``rescale_size``: the largest size keeping the aspect ratio with the long edge at most
    ``max(scale)`` and the short edge at most ``min(scale)``; returns (w, h)."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(width * float(factor) + 0.5), int(height * float(factor) + 0.5)


def resize(image: np.ndarray, resize_spec: Mapping[str, Any] | None) -> tuple[np.ndarray, tuple[float, float]]:
    """mmdet's ``Resize`` (bilinear, cv2): the resized image and its (w, h) scale factor."""
    if not resize_spec:
        return image, (1.0, 1.0)
    height, width = image.shape[:2]
    scale = resize_spec['scale']
    size = rescale_size(width, height, scale) if resize_spec['keep_ratio'] else (int(scale[0]), int(scale[1]))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    return resized, (resized.shape[1] / width, resized.shape[0] / height)


def pad(image: np.ndarray, pad_spec: Mapping[str, Any] | None) -> np.ndarray:
    """mmcv's ``Pad`` (constant mode): bottom and right padding to ``size`` (w, h) or to a multiple of
    ``size_divisor``."""
    if not pad_spec:
        return image
    height, width = image.shape[:2]
    if pad_spec.get('size_divisor'):
        divisor = int(pad_spec['size_divisor'])
        target_h, target_w = math.ceil(height / divisor) * divisor, math.ceil(width / divisor) * divisor
    else:
        target_w, target_h = (int(v) for v in pad_spec['size'])
    if target_h < height or target_w < width:
        raise ValueError(f'Pad to {target_w}x{target_h}: the resized image is larger ({width}x{height})')
    value = pad_spec.get('pad_val', 0)
    value = tuple(value) if isinstance(value, (list, tuple)) else (value,) * image.shape[2]
    return cv2.copyMakeBorder(image, 0, target_h - height, 0, target_w - width, cv2.BORDER_CONSTANT, value=value)


def pipeline(image: np.ndarray, spec: Mapping[str, Any]) -> tuple[np.ndarray, ImageMeta]:
    """One BGR ``uint8`` image through ``Resize`` and ``Pad``: the image and its :class:`ImageMeta`."""
    resized, factor = resize(image, spec.get('resize'))
    padded = pad(resized, spec.get('pad'))
    return padded, ImageMeta((padded.shape[0], padded.shape[1]), factor)


def batch_inputs(images: Sequence[np.ndarray], spec: Mapping[str, Any]) -> np.ndarray:
    """The data preprocessor on pipeline outputs: channel flip, ``(x - mean) / std`` in float32, stacked into
    (N, 3, H, W) padded bottom and right with ``pad_value`` to the largest size rounded up to
    ``pad_size_divisor``."""
    mean = np.asarray(spec['mean'], np.float32).reshape(3, 1, 1)
    std = np.asarray(spec['std'], np.float32).reshape(3, 1, 1)
    chw = []
    for image in images:
        array = image.transpose(2, 0, 1)
        if spec.get('bgr_to_rgb'):
            array = array[::-1]
        chw.append((array.astype(np.float32) - mean) / std)
    divisor = max(int(spec.get('pad_size_divisor') or 1), 1)
    height = math.ceil(max(a.shape[1] for a in chw) / divisor) * divisor
    width = math.ceil(max(a.shape[2] for a in chw) / divisor) * divisor
    batch = np.full((len(chw), 3, height, width), float(spec.get('pad_value', 0)), np.float32)
    for i, array in enumerate(chw):
        batch[i, :, :array.shape[1], :array.shape[2]] = array
    return batch
