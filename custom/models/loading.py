"""An image loader whose failure names the file and the fix instead of ending in a DataLoader traceback.

``tools/train.py`` puts :class:`CheckedLoadImageFromFile` wherever a config says
``LoadImageFromFile`` (:func:`use_checked_image_loading`); the images it loads are the same.
"""
from __future__ import annotations

import re
from typing import Any

from mmcv.transforms import LoadImageFromFile
from mmdet.registry import TRANSFORMS

from custom.engine.config import replace_type

FIX = ('fix or replace the file, or remove it from the annotations and re-run the converter; '
       '`tools/train.py --preflight full` checks every image before training')


class ImageLoadError(RuntimeError):
    """An image of the dataset could not be read or decoded; the message names it and the fix."""


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` (same arguments, same result) raising :class:`ImageLoadError` naming the file."""

    def transform(self, results: dict) -> dict | None:
        try:
            return super().transform(results)
        except Exception as err:  # noqa: BLE001  whatever the backend or decoder raised
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            if reason.startswith('failed to load image'):
                reason = 'does not decode as an image (corrupt, truncated or not an image)'
            raise ImageLoadError(f"{results.get('img_path')}: {reason}: {FIX}") from err


def image_load_message(err: BaseException) -> str:
    """The one-line message of an :class:`ImageLoadError`, also when a DataLoader worker re-raised it
    with the worker's traceback prepended."""
    lines = str(err).strip().splitlines()
    for line in reversed(lines):
        match = re.match(r'(?:[\w.]*\.)?ImageLoadError: (.*)', line)
        if match:
            return match.group(1)
    return lines[-1] if lines else type(err).__name__


def use_checked_image_loading(node: Any) -> None:
    """Replace ``type='LoadImageFromFile'`` by ``CheckedLoadImageFromFile`` everywhere in a config
    (nested dicts and lists: dataloaders, hooks' switch pipelines)."""
    replace_type(node, ('LoadImageFromFile', 'mmdet.LoadImageFromFile', LoadImageFromFile),
                 CheckedLoadImageFromFile.__name__)
