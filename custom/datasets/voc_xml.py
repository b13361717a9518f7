"""Reading one Pascal-VOC XML file, and the VOC -> COCO box convention.

Coordinate conventions (as in detectron2's ``load_voc_instances``):

* VOC ``<bndbox>`` values are 1-based pixel indices, inclusive: ``xmin=1, xmax=W``
  covers a whole image of width ``W``.
* COCO ``bbox`` is ``[x, y, w, h]`` in 0-based continuous coordinates, so
  ``x = xmin - 1``, ``y = ymin - 1``, ``w = xmax - xmin + 1``, ``h = ymax - ymin + 1``.
* A box with ``xmax <= xmin`` or ``ymax <= ymin`` (a single click in labelImg,
  or swapped corners) is degenerate: it is dropped and reported, never guessed.
* A box reaching outside the image is clipped to it and reported; a coordinate beyond
  ``MAX_COORDINATE`` px (e.g. ``1e308``), ``1_0`` or non-ASCII digits is a bad value, not a box.
* A box given in whole pixels (the usual case) is written with integers, ``[9,19,21,21]``;
  one with any fractional coordinate with floats, rounded to 0.01 px.
* ``<difficult>1</difficult>`` becomes ``iscrowd=1`` (mmdet then ignores it in
  training and pycocotools in evaluation) unless ``difficult_as_crowd=False``.

No torch, mmdet or matplotlib import (see :mod:`custom.datasets`).
"""
from __future__ import annotations

import math
import os
import re
import stat
from typing import Sequence

from lxml import etree

MAX_XML_BYTES = 5 * 1024 * 1024  # a VOC file with 10k boxes is ~2 MB; larger is not an annotation
MAX_COORDINATE = 1_000_000  # px (an int: cheap to compare); beyond it a value is bad, not a whole-image box
COUNT_LIMIT_BYTES = 256 * 1024 * 1024  # bytes of an oversized file scanned to estimate its boxes
_O_READ = os.O_RDONLY | getattr(os, 'O_BINARY', 0) | getattr(os, 'O_NONBLOCK', 0)  # a FIFO cannot block open
_OBJECT_TAG = re.compile(rb'<object[\s>/]')


class VOCError(ValueError):
    """A VOC annotation that cannot be converted; the message names the file.

    ``boxes`` is how many ``<object>`` elements the file holds (``estimated`` when
    counted in its bytes without parsing), so that a dropped file's boxes are accounted for.
    """

    def __init__(self, message: str, boxes: int = 0, estimated: bool = False) -> None:
        super().__init__(message)
        self.boxes, self.estimated = boxes, estimated


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


def count_objects(data: bytes) -> int:
    """``<object>`` start tags in ``data``: the boxes of a file that cannot be parsed (an estimate)."""
    return len(_OBJECT_TAG.findall(data))


def _count_objects_in_file(fd: int) -> int:
    """``<object>`` tags in the first :data:`COUNT_LIMIT_BYTES` of an open file, read 1 MiB at a time."""
    count, tail, read = 0, b'', 0
    while read < COUNT_LIMIT_BYTES:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        read += len(chunk)
        data = tail + chunk
        count += count_objects(data)
        tail = data[-7:]  # a match needs 8 bytes: one cut by the border is found, once, in the next round
    return count


def _coordinate(raw: str | None, key: str, xml_path: str) -> float:
    if raw is None or not raw.strip():
        raise VOCError(f'{xml_path}: missing <{key}>')
    text = raw.strip()
    try:
        if not text.isascii() or '_' in text:
            raise ValueError(text)  # float() would read '1_0' as 10 and Arabic-Indic digits as digits
        value = float(text)
    except ValueError:
        raise VOCError(f'{xml_path}: <{key}> is not a number: {text!r}') from None
    if not math.isfinite(value):
        raise VOCError(f'{xml_path}: <{key}> is not a finite number: {text!r}')
    if abs(value) > MAX_COORDINATE:
        raise VOCError(f'{xml_path}: <{key}> {text!r} is beyond {MAX_COORDINATE:g} px; fix the box')
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
    Only ASCII digits without ``_`` are numbers, and every value lies within +-:data:`MAX_COORDINATE`.
    """
    try:
        x1, y1, x2, y2 = coords['xmin'], coords['ymin'], coords['xmax'], coords['ymax']
        try:
            a, b, c, d = int(x1), int(y1), int(x2), int(y2)  # type: ignore[arg-type]
        except ValueError:
            a, b, c, d = float(x1), float(y1), float(x2), float(y2)  # type: ignore[arg-type,assignment]
    except (KeyError, TypeError, ValueError):
        pass
    else:
        text, m = x1 + y1 + x2 + y2, MAX_COORDINATE  # type: ignore[operator]
        if -m <= a <= m and -m <= b <= m and -m <= c <= m and -m <= d <= m and text.isascii() and '_' not in text:
            return a, b, c, d  # NaN fails the comparisons too
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


def _read(xml_path: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; :class:`VOCError` naming it otherwise."""
    try:
        fd = os.open(xml_path, _O_READ)
    except OSError as err:
        raise VOCError(f'{xml_path}: cannot be opened ({err.strerror}); check its permissions') from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise VOCError(f'{xml_path}: not a regular file (a FIFO, device or folder); remove or rename it')
        if info.st_size > max_bytes:
            raise VOCError(f'{xml_path}: {info.st_size} bytes is too large for a VOC annotation '
                           f'(limit {max_bytes}, see --max-xml-mb); is this really a VOC XML file?',
                           _count_objects_in_file(fd), estimated=True)
        data = os.read(fd, info.st_size + 1)  # not max_bytes: a buffer that large per file costs time
        if len(data) > info.st_size:
            raise VOCError(f'{xml_path}: grew while being read; convert again when it is complete')
        return data
    except OSError as err:
        raise VOCError(f'{xml_path}: cannot be read ({err.strerror})') from None
    finally:
        os.close(fd)


def parse_voc_xml(xml_path: str | os.PathLike, max_bytes: int = MAX_XML_BYTES) -> VOCImage:
    """Parse one Pascal-VOC XML file of at most ``max_bytes``.

    Raises :class:`VOCError` naming the file when the file as a whole is unusable (not a
    regular file, too large, unreadable, not UTF-8 nor of its declared encoding, not XML,
    declaring entities, not an ``<annotation>``); its ``boxes`` then estimates the ``<object>``
    count. An ``<object>`` without a name, a box or numeric coordinates is skipped and its
    message kept in ``bad_objects``, so one bad box does not cost the image its other boxes.
    """
    xml_path = os.fspath(xml_path)  # a str throughout: this runs once per file
    data = _read(xml_path, max_bytes)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as err:
        hint = ''
        if 'encoding' in err.msg or 'UTF-8' in err.msg:
            hint = ' (save it as UTF-8, or declare its encoding: <?xml version="1.0" encoding="ISO-8859-1"?>)'
        raise VOCError(f'{xml_path}: unreadable XML at line {err.lineno}: {err.msg}{hint}',
                       count_objects(data), estimated=True) from None
    if b'<!ENTITY' in data:
        dtd = root.getroottree().docinfo.internalDTD
        if dtd is not None and any(True for _ in dtd.iterentities()):
            raise VOCError(f'{xml_path}: declares XML entities (<!ENTITY>), which a VOC file never needs; '
                           f'refused (entity expansion can exhaust memory)', count_objects(data), estimated=True)
    if root.tag != 'annotation':
        raise VOCError(f'{xml_path}: root element is <{root.tag}>, expected <annotation>',
                       count_objects(data), estimated=True)
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
