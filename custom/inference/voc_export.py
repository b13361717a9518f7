"""Predictions as Pascal-VOC files to correct in labelImg or CVAT and convert back (pre-annotation).

``OUT/voc/`` gets the VOCdevkit layout that ``tools/dataset_converters/voc2coco.py`` reads:
``Annotations/<id>.xml`` and ``JPEGImages/<id>.<ext>``, ``<id>`` the file's name relative to its
INPUT with folders joined by ``__`` (``sub/x.jpg`` -> ``sub__x``; bytes of a name that is not
UTF-8 written as ``\\xe9``), numbered ``-2``... when taken. An image is copied as it is when the
converter reads it at the size it was predicted at (JPEG, PNG, BMP; EXIF rotation included), else
(WebP) written as a PNG of the decoded image; a sampled video frame is written as
``<video id>_<frame, 6 digits>.jpg`` (JPEG quality 95). In labelImg: Open Dir ``JPEGImages/``,
Change Save Dir ``Annotations/``; in CVAT: upload ``Annotations/`` zipped as "Pascal VOC 1.1".

Boxes use the VOC convention of :mod:`custom.datasets.voc_xml` (1-based inclusive pixels). A
predicted box ``(x1, y1, x2, y2)`` in 0-based continuous pixels has its corners rounded to the
nearest pixel border, halves up: ``xmin = floor(x1 + 0.5) + 1``, ``xmax = floor(x2 + 0.5)`` (same
for y). The converter reads that back as COCO ``[x, y, w, h]`` = ``[floor(x1 + 0.5), ...,
floor(x2 + 0.5) - floor(x1 + 0.5), ...]``: every corner within 0.5 px of the prediction. A box
under 2 px wide or high after rounding (which the converter would drop as degenerate) is left out
and counted in :attr:`VOCExport.small_boxes`. No ``ImageSets``: convert back with a split, e.g.
``voc2coco.py OUT/voc --out-dir data/new --split 0.8,0.1,0.1``.
"""
from __future__ import annotations

import math
import os
import shutil
from typing import Sequence

import numpy as np

from custom.datasets.converter import escape_name
from custom.datasets.imagesize import ImageSizeError, image_size
from custom.inference.detector import Detections
from custom.inference.naming import UniqueNames, flat_name
from custom.inference.sources import MediaFile

COPIED_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')  # what the converter reads image sizes of
FRAME_JPEG_QUALITY = 95


def voc_corners(box: Sequence[float]) -> tuple[int, int, int, int] | None:
    """VOC ``(xmin, ymin, xmax, ymax)`` of a box ``(x1, y1, x2, y2)`` in 0-based continuous pixels (rounded
    as the module docstring says); ``None`` when under 2 px wide or high after rounding."""
    x1, y1, x2, y2 = (math.floor(float(v) + 0.5) for v in box)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return x1 + 1, y1 + 1, x2, y2


def voc_xml(filename: str, width: int, height: int, objects: Sequence[tuple[str, tuple[int, int, int, int]]]
            ) -> bytes:
    """A Pascal-VOC annotation (labelImg's layout) of ``filename`` with ``objects`` ``(class, (xmin, ymin,
    xmax, ymax))``."""
    from lxml import etree
    root = etree.Element('annotation')
    etree.SubElement(root, 'folder').text = 'JPEGImages'
    etree.SubElement(root, 'filename').text = filename
    size = etree.SubElement(root, 'size')
    for key, value in (('width', width), ('height', height), ('depth', 3)):
        etree.SubElement(size, key).text = str(value)
    etree.SubElement(root, 'segmented').text = '0'
    for name, corners in objects:
        obj = etree.SubElement(root, 'object')
        for key, value in (('name', name), ('pose', 'Unspecified'), ('truncated', '0'), ('difficult', '0')):
            etree.SubElement(obj, key).text = value
        box = etree.SubElement(obj, 'bndbox')
        for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), corners):
            etree.SubElement(box, key).text = str(value)
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding='utf-8')


class VOCExport:
    """Writes ``out_dir/Annotations`` and ``out_dir/JPEGImages`` (see the module docstring)."""

    def __init__(self, out_dir: str, classes: Sequence[str]) -> None:
        self.annotations, self.images = os.path.join(out_dir, 'Annotations'), os.path.join(out_dir, 'JPEGImages')
        os.makedirs(self.annotations, exist_ok=True)
        os.makedirs(self.images, exist_ok=True)
        self.classes = list(classes)
        self.names = UniqueNames(by_stem=True)
        self.small_boxes = 0
        self.files = 0

    def add_image(self, media: MediaFile, image: np.ndarray, detections: Detections) -> str:
        """Write the image (copied, or a PNG of ``image``) and its XML; returns the image's name in JPEGImages."""
        height, width = image.shape[:2]
        ext = os.path.splitext(media.path)[1].lower()
        if ext in COPIED_EXTENSIONS and self.converter_size(media.path) == (width, height):
            name = self.names.claim(escape_name(flat_name(media.file_name)))
            shutil.copyfile(media.path, os.path.join(self.images, name))
        else:
            name = self.names.claim(os.path.splitext(escape_name(flat_name(media.file_name)))[0] + '.png')
            self.encode(name, image, [])
        self.write_xml(name, width, height, detections)
        return name

    def add_frame(self, media: MediaFile, index: int, frame: np.ndarray, detections: Detections) -> str:
        """Write a sampled video frame as JPEG and its XML; returns the frame's name in JPEGImages."""
        import cv2
        stem = os.path.splitext(escape_name(flat_name(media.file_name)))[0]
        name = self.names.claim(f'{stem}_{index:06d}.jpg')
        self.encode(name, frame, [cv2.IMWRITE_JPEG_QUALITY, FRAME_JPEG_QUALITY])
        self.write_xml(name, frame.shape[1], frame.shape[0], detections)
        return name

    @staticmethod
    def converter_size(path: str) -> tuple[int, int] | None:
        """The size the converter reads from the file's header; ``None`` when it cannot."""
        try:
            return image_size(path)
        except (ImageSizeError, OSError):
            return None

    def encode(self, name: str, image: np.ndarray, params: list[int]) -> None:
        import cv2
        ok, data = cv2.imencode(os.path.splitext(name)[1], image, params)
        if not ok:
            raise OSError(f'{name}: OpenCV could not encode the image')
        data.tofile(os.path.join(self.images, name))

    def write_xml(self, name: str, width: int, height: int, detections: Detections) -> None:
        objects = []
        for box, label in zip(detections.boxes, detections.labels):
            corners = voc_corners(box)
            if corners is None:
                self.small_boxes += 1
            else:
                objects.append((self.classes[int(label)], corners))
        with open(os.path.join(self.annotations, os.path.splitext(name)[0] + '.xml'), 'wb') as f:
            f.write(voc_xml(name, width, height, objects))
        self.files += 1
