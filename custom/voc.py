"""Pascal-VOC XML -> COCO JSON, for any class set.

Coordinate conventions (as in detectron2's ``load_voc_instances``):

* VOC ``<bndbox>`` values are 1-based pixel indices, inclusive: ``xmin=1, xmax=W``
  covers a whole image of width ``W``.
* COCO ``bbox`` is ``[x, y, w, h]`` in 0-based continuous coordinates, so
  ``x = xmin - 1``, ``y = ymin - 1``, ``w = xmax - xmin + 1``, ``h = ymax - ymin + 1``.
* A box with ``xmax <= xmin`` or ``ymax <= ymin`` (a single click in labelImg,
  or swapped corners) is degenerate: it is dropped and reported, never guessed.
* A box reaching outside the image is clipped to it and reported.
* ``<difficult>1</difficult>`` becomes ``iscrowd=1`` (mmdet then ignores it in
  training and pycocotools in evaluation) unless ``difficult_as_crowd=False``.

This module imports no torch, mmdet or matplotlib: converting is fast and can
run on a machine without the training stack.
"""
from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from lxml import etree

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.JPG', '.JPEG', '.PNG', '.BMP')
MAX_XML_BYTES = 5 * 1024 * 1024  # a VOC file with 10k boxes is ~2 MB; larger is not an annotation
SPLIT_NAMES = ('train', 'val', 'test')


class VOCError(ValueError):
    """A VOC annotation that cannot be converted; the message names the file."""


@dataclass
class VOCObject:
    """One ``<object>``: class name, VOC box (1-based, inclusive) and flags."""

    name: str
    bbox: tuple[float, float, float, float]
    difficult: bool = False


@dataclass
class VOCImage:
    """One annotation file: the image it describes and its objects."""

    xml_path: Path
    filename: str
    width: int
    height: int
    objects: list[VOCObject] = field(default_factory=list)


@dataclass
class Report:
    """Problems found while converting, by kind, each with the files concerned."""

    problems: dict[str, list[str]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)

    def add(self, kind: str, detail: str) -> None:
        self.problems.setdefault(kind, []).append(detail)

    def to_dict(self) -> dict:
        return {'counts': dict(self.counts),
                'problems': {k: {'count': len(v), 'items': v} for k, v in sorted(self.problems.items())}}

    def summary(self) -> str:
        lines = [f'{k}: {v}' for k, v in self.counts.items()]
        for kind, items in sorted(self.problems.items()):
            shown = ', '.join(items[:5]) + (f', ... ({len(items) - 5} more)' if len(items) > 5 else '')
            lines.append(f'PROBLEM {kind} ({len(items)}): {shown}')
        return '\n'.join(lines)


def _parser() -> etree.XMLParser:
    # No entity expansion, no DTD, no network: a hostile file cannot read files or hang.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True)


def _text(node: etree._Element, path: str, xml_path: Path) -> str:
    found = node.find(path)
    if found is None or found.text is None or not found.text.strip():
        raise VOCError(f'{xml_path}: missing <{path}>')
    return found.text.strip()


def _number(node: etree._Element, path: str, xml_path: Path) -> float:
    raw = _text(node, path, xml_path)
    try:
        return float(raw)
    except ValueError:
        raise VOCError(f'{xml_path}: <{path}> is not a number: {raw!r}') from None


def parse_voc_xml(xml_path: str | os.PathLike) -> VOCImage:
    """Parse one Pascal-VOC XML file; raise :class:`VOCError` naming the file on bad input."""
    xml_path = Path(xml_path)
    size = xml_path.stat().st_size
    if size > MAX_XML_BYTES:
        raise VOCError(f'{xml_path}: {size} bytes is too large for a VOC annotation '
                       f'(limit {MAX_XML_BYTES}); is this really a VOC XML file?')
    try:
        root = etree.parse(str(xml_path), _parser()).getroot()
    except etree.XMLSyntaxError as err:
        raise VOCError(f'{xml_path}: unreadable XML at line {err.lineno}: {err.msg}') from None
    if root.tag != 'annotation':
        raise VOCError(f'{xml_path}: root element is <{root.tag}>, expected <annotation>')
    filename_node = root.find('filename')
    filename = (filename_node.text or '').strip() if filename_node is not None else ''
    width = height = 0
    if root.find('size') is not None:
        try:
            width = int(float(root.findtext('size/width', '0') or 0))
            height = int(float(root.findtext('size/height', '0') or 0))
        except ValueError:
            width = height = 0  # resolved from the image itself by the caller
    objects = []
    for obj in root.iterfind('object'):
        name = _text(obj, 'name', xml_path)
        box = obj.find('bndbox')
        if box is None:
            raise VOCError(f'{xml_path}: <object> {name!r} has no <bndbox>')
        bbox = tuple(_number(box, k, xml_path) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
        difficult = (obj.findtext('difficult') or '0').strip() in ('1', 'true', 'True')
        objects.append(VOCObject(name, bbox, difficult))  # type: ignore[arg-type]
    return VOCImage(xml_path, filename, width, height, objects)


def voc_box_to_coco(bbox: Sequence[float], width: int, height: int
                    ) -> tuple[list[float] | None, bool]:
    """Convert a VOC box (1-based, inclusive) to COCO ``[x, y, w, h]`` clipped to the image.

    Returns ``(None, False)`` for a degenerate box and ``(box, clipped)`` otherwise.
    """
    xmin, ymin, xmax, ymax = bbox
    if xmax <= xmin or ymax <= ymin:
        return None, False
    x1, y1, x2, y2 = xmin - 1, ymin - 1, xmax, ymax
    cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    cx2, cy2 = min(max(x2, 0.0), width), min(max(y2, 0.0), height)
    if cx2 <= cx1 or cy2 <= cy1:
        return None, True
    clipped = (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2)
    return [cx1, cy1, cx2 - cx1, cy2 - cy1], clipped


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def find_annotation_files(voc_dir: Path) -> list[Path]:
    """XML files of a VOC folder: ``Annotations/``, ``annotations/`` or beside the images."""
    for sub in ('Annotations', 'annotations'):
        if (voc_dir / sub).is_dir():
            return sorted((voc_dir / sub).glob('*.xml'))
    return sorted(p for p in voc_dir.rglob('*.xml') if p.is_file())


def resolve_image(voc_dir: Path, item: VOCImage) -> Path | None:
    """Find the image of ``item`` inside ``voc_dir``; ``None`` if there is none.

    Looks for ``<filename>`` in the usual image folders and beside the XML, then
    for the XML's stem with any image extension. Never resolves outside ``voc_dir``.
    """
    folders = [voc_dir / 'JPEGImages', voc_dir / 'images', item.xml_path.parent, voc_dir]
    names = []
    if item.filename and not os.path.isabs(item.filename) and '..' not in Path(item.filename).parts:
        names.append(item.filename)
    names += [item.xml_path.stem + ext for ext in IMAGE_EXTENSIONS]
    for name in names:
        for folder in folders:
            candidate = folder / name
            if candidate.is_file() and _inside(candidate, voc_dir):
                return candidate
    return None


def read_image_size(path: Path) -> tuple[int, int]:
    """Width and height from the image header (Pillow reads no pixels for this)."""
    from PIL import Image  # light import, only when the XML lacks a size
    with Image.open(path) as img:
        return img.size


def read_split_files(voc_dir: Path) -> dict[str, list[str]]:
    """Image ids per split from ``ImageSets/Main/{train,val,trainval,test}.txt`` when present."""
    main = voc_dir / 'ImageSets' / 'Main'
    splits = {}
    for name in ('train', 'val', 'trainval', 'test'):
        path = main / f'{name}.txt'
        if path.is_file():
            splits[name] = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    return splits


def random_splits(ids: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, list[str]]:
    """Deterministic train/val/test split of ``ids`` by ``fractions`` (summing to 1)."""
    if len(fractions) not in (2, 3) or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ValueError(f'split fractions must be 2 or 3 non-negative numbers summing to 1, got {fractions}')
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    bounds, start, splits = [], 0, {}
    for frac in fractions[:-1]:
        bounds.append(start + round(frac * len(order)))
        start = bounds[-1]
    edges = [0, *bounds, len(order)]
    for name, lo, hi in zip(SPLIT_NAMES, edges, edges[1:]):
        splits[name] = sorted(order[lo:hi])
    if len(fractions) == 3:
        splits['trainval'] = sorted(splits['train'] + splits['val'])
    return splits


def convert_voc_to_coco(voc_dir: str | os.PathLike, classes: Sequence[str] | None = None,
                        difficult_as_crowd: bool = True, progress: bool = False
                        ) -> tuple[dict, dict[str, int], Report]:
    """Convert every annotation of ``voc_dir`` into one COCO dict.

    Returns ``(coco, image_ids_by_stem, report)``. Category ids follow ``classes``
    (1-based) or, when not given, the sorted class names found. Image
    ``file_name`` is relative to ``voc_dir``. Images and boxes that cannot be
    used are listed in ``report`` by problem kind; nothing is dropped silently.
    """
    voc_dir = Path(voc_dir)
    if not voc_dir.is_dir():
        raise FileNotFoundError(f'{voc_dir}: no such folder (expected a Pascal-VOC dataset folder)')
    xml_files = find_annotation_files(voc_dir)
    if not xml_files:
        raise VOCError(f'{voc_dir}: no .xml annotation files found (looked in Annotations/, '
                       f'annotations/ and beside the images)')
    report = Report()
    parsed: list[tuple[VOCImage, Path]] = []
    iterator: Iterable[Path] = xml_files
    if progress:
        from tqdm import tqdm
        iterator = tqdm(xml_files, desc='parse VOC', unit='file')
    for xml_path in iterator:
        try:
            item = parse_voc_xml(xml_path)
        except VOCError as err:
            report.add('unreadable_xml', str(err))
            continue
        image_path = resolve_image(voc_dir, item)
        if image_path is None:
            report.add('missing_image', f'{xml_path.name}: <filename> {item.filename!r} not found')
            continue
        if item.width <= 0 or item.height <= 0:
            item.width, item.height = read_image_size(image_path)
            report.add('size_from_image', xml_path.name)
        parsed.append((item, image_path))

    found = sorted({o.name for item, _ in parsed for o in item.objects})
    class_list = list(classes) if classes else found
    if len(set(class_list)) != len(class_list):
        raise ValueError(f'duplicate class names in {class_list}')
    cat_ids = {name: i + 1 for i, name in enumerate(class_list)}
    coco: dict = {'images': [], 'annotations': [],
                  'categories': [{'id': i, 'name': n, 'supercategory': 'none'} for n, i in cat_ids.items()]}
    ids_by_stem: dict[str, int] = {}
    boxes_in = 0
    for item, image_path in parsed:
        stem = item.xml_path.stem
        if stem in ids_by_stem:
            report.add('duplicate_name', f'{item.xml_path}: id {stem!r} used twice; second skipped')
            continue
        image_id = len(coco['images']) + 1
        ids_by_stem[stem] = image_id
        coco['images'].append({'id': image_id, 'file_name': image_path.relative_to(voc_dir).as_posix(),
                               'width': item.width, 'height': item.height})
        for obj in item.objects:
            boxes_in += 1
            if obj.name not in cat_ids:
                report.add('unknown_class', f'{item.xml_path.name}: {obj.name!r}')
                continue
            box, clipped = voc_box_to_coco(obj.bbox, item.width, item.height)
            if box is None:
                report.add('degenerate_box', f'{item.xml_path.name}: {obj.name} {list(obj.bbox)}')
                continue
            if clipped:
                report.add('clipped_box', f'{item.xml_path.name}: {obj.name} {list(obj.bbox)}')
            coco['annotations'].append({
                'id': len(coco['annotations']) + 1, 'image_id': image_id, 'category_id': cat_ids[obj.name],
                'bbox': [round(v, 2) for v in box], 'area': round(box[2] * box[3], 2),
                'iscrowd': int(obj.difficult and difficult_as_crowd)})
        if not item.objects:
            report.add('empty_image', item.xml_path.name)
    report.counts.update({'xml_files': len(xml_files), 'images': len(coco['images']),
                          'boxes_in': boxes_in, 'boxes_out': len(coco['annotations'])})
    return coco, ids_by_stem, report


def subset(coco: dict, image_ids: Iterable[int]) -> dict:
    """The part of ``coco`` that covers ``image_ids`` (ids are kept, so splits can be compared)."""
    keep = set(image_ids)
    return {'images': [im for im in coco['images'] if im['id'] in keep],
            'annotations': [a for a in coco['annotations'] if a['image_id'] in keep],
            'categories': coco['categories']}


def write_coco_splits(voc_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      classes: Sequence[str] | None = None, split: Sequence[float] | None = None,
                      seed: int = 0, link_images: bool = True, progress: bool = False) -> Report:
    """Convert ``voc_dir`` and write ``out_dir/annotations/<split>.json`` plus ``report.json``.

    Splits come from ``ImageSets/Main`` when present, else from ``split``
    fractions (train,val[,test]) shuffled with ``seed``. ``out_dir/images``
    becomes a relative symlink to ``voc_dir`` so COCO ``file_name`` resolves.
    """
    voc_dir, out_dir = Path(voc_dir), Path(out_dir)
    coco, ids_by_stem, report = convert_voc_to_coco(voc_dir, classes, progress=progress)
    splits = read_split_files(voc_dir)
    if split:
        splits = random_splits(sorted(ids_by_stem), split, seed)
    if not splits:
        raise VOCError(f'{voc_dir}: no ImageSets/Main/*.txt split files; pass split fractions '
                       f'(e.g. --split 0.8,0.1,0.1) to make a split')
    (out_dir / 'annotations').mkdir(parents=True, exist_ok=True)
    for name, stems in splits.items():
        missing = [s for s in stems if s not in ids_by_stem]
        for stem in missing:
            report.add('split_id_without_image', f'{name}.txt: {stem}')
        part = subset(coco, (ids_by_stem[s] for s in stems if s in ids_by_stem))
        (out_dir / 'annotations' / f'{name}.json').write_text(json.dumps(part))
        report.counts[f'images_{name}'] = len(part['images'])
    if link_images:
        link = out_dir / 'images'
        target = os.path.relpath(voc_dir.resolve(), out_dir.resolve())
        if link.is_symlink() or link.exists():
            if not link.is_symlink() or os.readlink(link) != target:
                raise VOCError(f'{link} exists and is not a link to {voc_dir}; remove it or use another --out-dir')
        else:
            link.symlink_to(target, target_is_directory=True)
    (out_dir / 'report.json').write_text(json.dumps(report.to_dict(), indent=1))
    return report
