"""Reading one Pascal-VOC XML file, and the VOC -> COCO box convention.

Coordinate conventions (as in detectron2's ``load_voc_instances``):

* VOC ``<bndbox>`` values are 1-based pixel indices, inclusive: ``xmin=1, xmax=W``
  covers a whole image of width ``W``.
* COCO ``bbox`` is ``[x, y, w, h]`` in 0-based continuous coordinates, so
  ``x = xmin - 1``, ``y = ymin - 1``, ``w = xmax - xmin + 1``, ``h = ymax - ymin + 1``.
* A box with ``xmax <= xmin`` or ``ymax <= ymin`` (a single click in labelImg,
  or swapped corners) is degenerate: it is dropped and reported, never guessed.
* A box reaching outside the image is clipped to it and reported.
* A box given in whole pixels (the usual case) is written with integers, ``[9,19,21,21]``;
  one with any fractional coordinate with floats, rounded to 0.01 px.
* ``<difficult>1</difficult>`` becomes ``iscrowd=1`` (mmdet then ignores it in
  training and pycocotools in evaluation) unless ``difficult_as_crowd=False``.

No torch, mmdet or matplotlib import (see :mod:`custom.datasets`).
"""
from __future__ import annotations

import math
import os
from typing import Sequence

from lxml import etree

MAX_XML_BYTES = 5 * 1024 * 1024  # a VOC file with 10k boxes is ~2 MB; larger is not an annotation


class VOCError(ValueError):
    """A VOC annotation that cannot be converted; the message names the file."""


class VOCObject:
    """One ``<object>``: class name, VOC box (1-based, inclusive) and flags."""

    __slots__ = ('name', 'bbox', 'difficult')  # plain classes: dataclasses would cost import time

    def __init__(self, name: str, bbox: tuple[float, float, float, float], difficult: bool = False) -> None:
        self.name, self.bbox, self.difficult = name, bbox, difficult

    def __repr__(self) -> str:
        return f'VOCObject({self.name!r}, {self.bbox}, difficult={self.difficult})'

    def __reduce__(self) -> tuple:  # compact pickles: parallel parsing sends these between processes
        return VOCObject, (self.name, self.bbox, self.difficult)


class VOCImage:
    """One annotation file: the image it describes, its objects and the objects it could not use."""

    __slots__ = ('xml_path', 'filename', 'width', 'height', 'objects', 'bad_objects')

    def __init__(self, xml_path: str, filename: str, width: int, height: int) -> None:
        self.xml_path, self.filename, self.width, self.height = xml_path, filename, width, height
        self.objects: list[VOCObject] = []
        self.bad_objects: list[str] = []  # one message per unusable <object>

    def __reduce__(self) -> tuple:
        return _rebuild_image, (self.xml_path, self.filename, self.width, self.height,
                                [(o.name, o.bbox, o.difficult) for o in self.objects], self.bad_objects)


def _rebuild_image(xml_path: str, filename: str, width: int, height: int, objects: list[tuple],
                   bad_objects: list[str]) -> VOCImage:
    item = VOCImage(xml_path, filename, width, height)
    item.objects = [VOCObject(*o) for o in objects]
    item.bad_objects = bad_objects
    return item


_PARSER: list[etree.XMLParser] = []


def _parser() -> etree.XMLParser:
    """The hardened parser, made once per process (making one per file doubles the parse time).

    No entity expansion, no DTD, no network: a hostile file cannot read files or hang.
    """
    if not _PARSER:
        _PARSER.append(etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                       dtd_validation=False, huge_tree=False, remove_comments=True))
    return _PARSER[0]


def _coordinate(raw: str | None, key: str, xml_path: str) -> float:
    if raw is None or not raw.strip():
        raise VOCError(f'{xml_path}: missing <{key}>')
    try:
        value = float(raw)
    except ValueError:
        raise VOCError(f'{xml_path}: <{key}> is not a number: {raw.strip()!r}') from None
    if not math.isfinite(value):
        raise VOCError(f'{xml_path}: <{key}> is not a finite number: {raw.strip()!r}')
    return value


def _size(size: etree._Element | None, key: str) -> int:
    """``<size><width>`` or ``<height>`` as a positive int; 0 when missing or unusable (read from the image)."""
    node = size.find(key) if size is not None else None
    try:
        value = float(node.text) if node is not None and node.text else 0.0
    except ValueError:
        return 0
    return int(value) if math.isfinite(value) and value >= 1 else 0


_BOX_KEYS = ('xmin', 'ymin', 'xmax', 'ymax')


def _box(coords: dict[str, str | None], xml_path: str) -> tuple[float, float, float, float]:
    """``(xmin, ymin, xmax, ymax)`` from the texts of ``<bndbox>``'s children.

    Whole numbers stay ints (exact, and written to JSON as ``12``, not ``12.0``); the
    common cases are tried in one go, anything unusual takes the checked path for its message.
    """
    try:
        return int(coords['xmin']), int(coords['ymin']), int(coords['xmax']), int(coords['ymax'])
    except (KeyError, TypeError, ValueError):
        pass
    try:
        bbox = (float(coords['xmin']), float(coords['ymin']), float(coords['xmax']), float(coords['ymax']))
        if math.isfinite(bbox[0] + bbox[1] + bbox[2] + bbox[3]):
            return bbox
    except (KeyError, TypeError, ValueError):
        pass
    return tuple(_coordinate(coords.get(k), k, xml_path) for k in _BOX_KEYS)  # type: ignore[return-value]


def _parse_object(obj: etree._Element, xml_path: str) -> VOCObject:
    fields = {child.tag: child for child in obj}  # one pass over the children: this is the hot loop
    name_node = fields.get('name')
    name = (name_node.text or '').strip() if name_node is not None else ''
    if not name:
        raise VOCError(f'{xml_path}: missing <name>')
    box = fields.get('bndbox')
    if box is None:
        raise VOCError(f'{xml_path}: <object> {name!r} has no <bndbox>')
    bbox = _box({child.tag: child.text for child in box}, xml_path)
    difficult_node = fields.get('difficult')
    difficult = difficult_node is not None and (difficult_node.text or '').strip() in ('1', 'true', 'True')
    return VOCObject(name, bbox, difficult)  # type: ignore[arg-type]


def parse_voc_xml(xml_path: str | os.PathLike) -> VOCImage:
    """Parse one Pascal-VOC XML file.

    Raises :class:`VOCError` naming the file when the file as a whole is unusable. An
    ``<object>`` without a name, a box or numeric coordinates is skipped and its message
    kept in ``bad_objects``, so one bad box does not cost the image its other boxes.
    """
    xml_path = os.fspath(xml_path)  # a str throughout: this runs once per file
    size = os.stat(xml_path).st_size
    if size > MAX_XML_BYTES:
        raise VOCError(f'{xml_path}: {size} bytes is too large for a VOC annotation '
                       f'(limit {MAX_XML_BYTES}); is this really a VOC XML file?')
    try:
        root = etree.parse(xml_path, _parser()).getroot()
    except etree.XMLSyntaxError as err:
        raise VOCError(f'{xml_path}: unreadable XML at line {err.lineno}: {err.msg}') from None
    if root.tag != 'annotation':
        raise VOCError(f'{xml_path}: root element is <{root.tag}>, expected <annotation>')
    filename_node = root.find('filename')
    filename = (filename_node.text or '').strip() if filename_node is not None else ''
    size = root.find('size')
    width, height = _size(size, 'width'), _size(size, 'height')
    item = VOCImage(xml_path, filename, width, height)
    for obj in root.iterfind('object'):
        try:
            item.objects.append(_parse_object(obj, xml_path))
        except VOCError as err:
            item.bad_objects.append(str(err))
    return item


def voc_box_to_coco(bbox: Sequence[float], width: int, height: int
                    ) -> tuple[list[float] | None, bool]:
    """Convert a VOC box (1-based, inclusive) to COCO ``[x, y, w, h]`` clipped to the image.

    Returns ``(None, False)`` for a degenerate box and ``(box, clipped)`` otherwise.
    """
    xmin, ymin, xmax, ymax = bbox
    if xmax <= xmin or ymax <= ymin:
        return None, False
    x1, y1, x2, y2 = xmin - 1, ymin - 1, xmax, ymax
    if x1 >= 0 and y1 >= 0 and x2 <= width and y2 <= height:  # inside the image, the common case
        return [x1, y1, x2 - x1, y2 - y1], False
    cx1, cy1 = min(max(x1, 0), width), min(max(y1, 0), height)  # int 0: whole-pixel boxes stay ints
    cx2, cy2 = min(max(x2, 0), width), min(max(y2, 0), height)
    if cx2 <= cx1 or cy2 <= cy1:
        return None, True
    clipped = (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2)
    return [cx1, cy1, cx2 - cx1, cy2 - cy1], clipped
