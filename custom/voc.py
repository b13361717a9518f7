"""Pascal-VOC XML -> COCO JSON, for any class set.

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

This module imports no torch, mmdet or matplotlib: converting is fast and can
run on a machine without the training stack.
"""
from __future__ import annotations

import functools
import gc
import json
import math
import os
import random
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from lxml import etree

from custom.imagesize import ImageSizeError, image_size
from custom.stats import coco_statistics

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.JPG', '.JPEG', '.PNG', '.BMP')
MAX_XML_BYTES = 5 * 1024 * 1024  # a VOC file with 10k boxes is ~2 MB; larger is not an annotation
SPLIT_NAMES = ('train', 'val', 'test')
PROGRESS_MIN_FILES = 2000  # below this a conversion takes about a second: no progress bar
PARALLEL_MIN_FILES = 20000  # from here on, parse in one process per core (start-up ~0.1 s is then small)
PARALLEL_CHUNK = 500  # files per task sent to a worker process
MAX_WORKERS = 8
JSON_CHUNK = 2000  # records encoded per call, and images written per call, when writing COCO JSON


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


class Report:
    """Problems found while converting, by kind, each with the files concerned; and counts."""

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {}
        self.counts: Counter = Counter()

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


def find_annotation_files(voc_dir: Path) -> list[Path]:
    """XML files of a VOC folder: ``Annotations/``, ``annotations/`` or beside the images."""
    for sub in ('Annotations', 'annotations'):
        if (voc_dir / sub).is_dir():
            return sorted((voc_dir / sub).glob('*.xml'), key=str)  # str keys sort 5x faster than Paths
    return sorted((p for p in voc_dir.rglob('*.xml') if p.is_file()), key=str)


def _real_dir(folder: str, cache: dict) -> str:
    if folder not in cache:
        cache[folder] = os.path.realpath(folder)
    return cache[folder]


def _listing(folder: str, cache: dict) -> dict[str, bool]:
    """Files of ``folder`` (name -> is a symlink), listed once: a set lookup instead of a stat per name."""
    key = ('ls', folder)
    if key not in cache:
        with os.scandir(folder) as entries:
            cache[key] = {e.name: e.is_symlink() for e in entries if e.is_file()}
    return cache[key]


def resolve_image(voc_dir: Path, item: VOCImage, cache: dict[str, str] | None = None) -> Path | None:
    """:func:`find_image` as a :class:`~pathlib.Path`."""
    found = find_image(str(voc_dir), item, {} if cache is None else cache)
    return Path(found) if found else None


def _image_names(item: VOCImage) -> Iterator[str]:
    """Names the image of ``item`` may have: its safe ``<filename>``, then the XML's stem + any extension."""
    filename = item.filename
    if filename and not os.path.isabs(filename) and '..' not in filename.replace('\\', '/').split('/'):
        yield filename
    stem = os.path.splitext(os.path.basename(item.xml_path))[0]
    for ext in IMAGE_EXTENSIONS:
        yield stem + ext


def find_image(root: str, item: VOCImage, cache: dict) -> str | None:
    """Find the image of ``item`` inside ``voc_dir``; ``None`` if there is none.

    Looks for ``<filename>`` in the usual image folders and beside the XML, then
    for the XML's stem with any image extension. Never resolves outside ``voc_dir``:
    absolute names and ``..`` are refused, and the real path (symlinks followed)
    must lie inside ``voc_dir``. ``cache`` keeps real paths and listings of folders between calls.
    """
    inside = _real_dir(root, cache) + os.sep
    if ('folders', root) not in cache:
        cache['folders', root] = [f for f in (os.path.join(root, 'JPEGImages'), os.path.join(root, 'images'))
                                  if os.path.isdir(f)]
    folders = cache['folders', root] + [os.path.dirname(item.xml_path), root]
    for name in _image_names(item):
        nested = '/' in name or os.sep in name
        for folder in folders:
            candidate = os.path.join(folder, name)
            if nested:  # a <filename> with folders in it: checked on disk, its folders may be links
                if not os.path.isfile(candidate):
                    continue
                head, tail = os.path.split(candidate)
                real = os.path.realpath(candidate) if os.path.islink(candidate) else \
                    os.path.join(_real_dir(head, cache), tail)
            else:  # a plain name: looked up in the folder's listing
                listing = _listing(folder, cache)
                if name not in listing:
                    continue
                real = os.path.realpath(candidate) if listing[name] else os.path.join(_real_dir(folder, cache), name)
            if real.startswith(inside):
                return candidate
    return None


def read_split_files(voc_dir: Path) -> dict[str, list[str]]:
    """Image ids per split from ``ImageSets/Main/{train,val,trainval,test}.txt`` when present."""
    main = voc_dir / 'ImageSets' / 'Main'
    splits = {}
    for name in ('train', 'val', 'trainval', 'test'):
        path = main / f'{name}.txt'
        if path.is_file():
            splits[name] = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    return splits


def _deal(order: Sequence[str], names: Sequence[str], fractions: Sequence[float]) -> dict[str, list[str]]:
    """Deal ``order`` out to ``names``: each item goes to the split furthest below its share so far."""
    dealt: dict[str, list[str]] = {name: [] for name in names}
    for i, item in enumerate(order, 1):
        name = max(names, key=lambda n: (fractions[names.index(n)] * i - len(dealt[n]), -names.index(n)))
        dealt[name].append(item)
    return {name: sorted(items) for name, items in dealt.items()}


def _stratified_order(ids: Sequence[str], strata: dict[str, str] | None, seed: int) -> list[str]:
    """``ids`` grouped by stratum (sorted), shuffled within each with ``seed``: a deterministic deal order."""
    groups: dict[str, list[str]] = {}
    for item in sorted(ids):
        groups.setdefault((strata or {}).get(item, ''), []).append(item)
    order = []
    for stratum in sorted(groups):
        members = groups[stratum]
        random.Random(f'{seed}:{stratum}').shuffle(members)
        order += members
    return order


def image_strata(coco: dict, ids_by_stem: dict[str, int]) -> dict[str, str]:
    """Stratum of each image: the name of its rarest class over the dataset ('' when it has no box)."""
    box_counts = Counter(a['category_id'] for a in coco['annotations'])
    names = {c['id']: c['name'] for c in coco['categories']}
    cats_of: dict[int, set[int]] = {}
    for ann in coco['annotations']:
        cats_of.setdefault(ann['image_id'], set()).add(ann['category_id'])
    strata = {}
    for stem, image_id in ids_by_stem.items():
        cats = cats_of.get(image_id)
        strata[stem] = names[min(cats, key=lambda c: (box_counts[c], c))] if cats else ''
    return strata


def random_splits(ids: Sequence[str], fractions: Sequence[float], seed: int,
                  strata: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Deterministic train/val[/test] split of ``ids`` by ``fractions`` (summing to 1).

    With ``strata`` (id -> key, e.g. :func:`image_strata`), every stratum is split
    in the same proportions, so a rare class appears in each split. The result
    depends only on the set of ids, the strata and ``seed``.
    """
    if len(fractions) not in (2, 3) or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ValueError(f'split fractions must be 2 or 3 non-negative numbers summing to 1, got {list(fractions)}')
    names = list(SPLIT_NAMES[:len(fractions)])
    splits = _deal(_stratified_order(ids, strata, seed), names, fractions)
    if len(fractions) == 3:
        splits['trainval'] = sorted(splits['train'] + splits['val'])
    return splits


def kfold_splits(ids: Sequence[str], k: int, seed: int,
                 strata: dict[str, str] | None = None) -> dict[str, list[str]]:
    """``fold<i>_train`` / ``fold<i>_val`` for i in 0..k-1: each id is in exactly one val fold."""
    if k < 2 or k > len(ids):
        raise ValueError(f'--kfold needs 2 <= K <= number of images ({len(ids)}), got {k}')
    folds = _deal(_stratified_order(ids, strata, seed), [str(i) for i in range(k)], [1 / k] * k)
    splits = {}
    for i in range(k):
        splits[f'fold{i}_train'] = sorted(x for j in range(k) if j != i for x in folds[str(j)])
        splits[f'fold{i}_val'] = folds[str(i)]
    return splits


BOX_DROP_KINDS = ('bad_object', 'unknown_class', 'degenerate_box')


def parse_class_map(pairs: Iterable[str]) -> dict[str, str]:
    """``['old=new', ...]`` -> ``{'old': 'new'}`` for merging or renaming classes."""
    mapping = {}
    for pair in pairs:
        old, sep, new = pair.partition('=')
        if not sep or not old.strip() or not new.strip():
            raise ValueError(f'class map entry {pair!r} is not of the form old=new')
        mapping[old.strip()] = new.strip()
    return mapping


def _load(root: str, xml_path: str, cache: dict) -> tuple:
    """Parse one XML file, find its image and read the image's size.

    Returns ``(item, image_path, (width, height))``, or ``(kind, message, boxes_lost)``
    when the file cannot be used.
    """
    try:
        item = parse_voc_xml(xml_path)
    except VOCError as err:
        return 'unreadable_xml', str(err), 0
    boxes = len(item.objects) + len(item.bad_objects)
    image_path = find_image(root, item, cache)
    if image_path is None:
        return 'missing_image', f'{os.path.basename(xml_path)}: <filename> {item.filename!r} not found', boxes
    try:
        size = image_size(image_path)
    except (ImageSizeError, OSError) as err:
        return 'unreadable_image', f'{os.path.basename(xml_path)}: {err}', boxes
    return item, image_path, size


def _load_chunk(args: tuple[str, list[str]]) -> list[tuple]:
    root, files = args
    cache: dict = {}
    return [_load(root, path, cache) for path in files]


def _load_all(root: str, xml_files: Sequence[str], workers: int, progress: bool) -> Iterable[tuple]:
    """:func:`_load` over every file, in order; across ``workers`` processes when > 1."""
    bar = None
    if progress and len(xml_files) >= PROGRESS_MIN_FILES:
        from tqdm import tqdm  # imported only for long runs: it costs more than parsing 500 files
        bar = tqdm(total=len(xml_files), desc='parse VOC', unit='file')
    if workers <= 1:
        cache: dict = {}
        for path in xml_files:
            yield _load(root, path, cache)
            if bar is not None:
                bar.update()
    else:
        import multiprocessing
        chunks = [(root, list(xml_files[i:i + PARALLEL_CHUNK])) for i in range(0, len(xml_files), PARALLEL_CHUNK)]
        with multiprocessing.get_context().Pool(workers) as pool:
            for results in pool.imap(_load_chunk, chunks):  # imap keeps the file order
                yield from results
                if bar is not None:
                    bar.update(len(results))
    if bar is not None:
        bar.close()


def default_workers(n_files: int) -> int:
    """Processes for converting ``n_files``: every core for big folders, one otherwise."""
    return min(os.cpu_count() or 1, MAX_WORKERS) if n_files >= PARALLEL_MIN_FILES else 1


def _collect(voc_dir: Path, xml_files: Sequence[Path], report: Report, progress: bool, workers: int
             ) -> Iterator[tuple[VOCImage, str]]:
    """Parse every XML file, resolve its image and check its size; unusable files go to ``report``.

    Yields ``(item, image_path)`` file by file, so a caller need not hold every parsed file.

    The image's own size wins over the XML's ``<size>``: it is what the model is trained on.
    A missing ``<size>`` is reported as ``size_from_image``, a different one as ``size_mismatch``.
    """
    seen: dict[str, str] = {}
    paths = [str(p) for p in xml_files]
    for xml_path, result in zip(paths, _load_all(str(voc_dir), paths, workers, progress)):
        if isinstance(result[0], str):
            kind, message, boxes = result
            report.add(kind, message)
            report.counts['boxes_in'] += boxes
            report.counts['boxes_of_dropped_images'] += boxes
            continue
        item, image_path, (width, height) = result
        boxes = len(item.objects) + len(item.bad_objects)
        report.counts['boxes_in'] += boxes
        name = os.path.basename(xml_path)
        stem = os.path.splitext(name)[0]
        if stem in seen:
            report.add('duplicate_name', f'{xml_path}: id {stem!r} also used by {seen[stem]}; second skipped')
            report.counts['boxes_of_dropped_images'] += boxes
            continue
        seen[stem] = xml_path
        if item.width <= 0 or item.height <= 0:
            report.add('size_from_image', f'{name}: no usable <size>, image is {width}x{height}')
        elif (item.width, item.height) != (width, height):
            hint = ' (rotated by EXIF orientation?)' if (item.height, item.width) == (width, height) else ''
            report.add('size_mismatch', f'{name}: <size> says {item.width}x{item.height}, '
                       f'the image is {width}x{height}{hint}; boxes are clipped to the image')
        item.width, item.height = width, height
        yield item, image_path


def _gc_paused(fn):
    """Run ``fn`` with Python's cycle collector paused (restored after, also on errors).

    A conversion allocates a few objects per box, none of them in reference cycles:
    reference counting frees them, while the collector would rescan the growing heap
    again and again (~6% of a conversion's time).
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()
    return wrapper


@_gc_paused
def convert_voc_to_coco(voc_dir: str | os.PathLike, classes: Sequence[str] | None = None,
                        class_map: dict[str, str] | None = None, unknown: str = 'drop',
                        difficult_as_crowd: bool = True, progress: bool = False,
                        workers: int | None = None) -> tuple[dict, dict[str, int], Report]:
    """Convert every annotation of ``voc_dir`` into one COCO dict.

    Returns ``(coco, image_ids_by_stem, report)``. Names are first renamed by
    ``class_map``; category ids follow ``classes`` (1-based) or, when not given,
    the sorted class names found. A name outside ``classes`` is dropped and
    counted (``unknown='drop'``) or raises :class:`VOCError` (``unknown='error'``).
    Image ``file_name`` is relative to ``voc_dir``. Nothing is dropped silently:
    ``boxes_in == boxes_out + boxes_of_dropped_images + len(problems[k])`` summed
    over :data:`BOX_DROP_KINDS`. ``workers`` processes parse the files (default:
    :func:`default_workers`); the result does not depend on it.
    """
    if unknown not in ('drop', 'error'):
        raise ValueError(f"unknown must be 'drop' or 'error', got {unknown!r}")
    voc_dir = Path(voc_dir)
    if not voc_dir.is_dir():
        raise FileNotFoundError(f'{voc_dir}: no such folder (expected a Pascal-VOC dataset folder)')
    xml_files = find_annotation_files(voc_dir)
    if not xml_files:
        raise VOCError(f'{voc_dir}: no .xml annotation files found (looked in Annotations/, '
                       f'annotations/ and beside the images)')
    report = Report()
    report.counts.update({'xml_files': len(xml_files), 'boxes_in': 0, 'boxes_of_dropped_images': 0})
    workers = default_workers(len(xml_files)) if workers is None else workers
    if classes and len(set(classes)) != len(classes):
        raise ValueError(f'duplicate class names in {list(classes)}')
    class_map = class_map or {}
    discover = not classes  # ids then follow the sorted names found, known only at the end
    cat_ids = {} if discover else {name: i + 1 for i, name in enumerate(classes)}
    outside: dict[str, str] = {}  # class outside `classes` -> first file it is in
    coco: dict = {'images': [], 'annotations': [], 'categories': []}
    ids_by_stem: dict[str, int] = {}
    images, annotations = coco['images'], coco['annotations']
    prefix = str(voc_dir) + os.sep
    crowd = bool(difficult_as_crowd)
    for item, image_path in _collect(voc_dir, xml_files, report, progress, workers):  # streamed
        name = os.path.basename(item.xml_path)
        image_id = len(images) + 1
        ids_by_stem[os.path.splitext(name)[0]] = image_id
        file_name = (image_path[len(prefix):] if image_path.startswith(prefix)
                     else os.path.relpath(image_path, voc_dir)).replace(os.sep, '/')
        width, height = item.width, item.height
        images.append({'id': image_id, 'file_name': file_name, 'width': width, 'height': height})
        for message in item.bad_objects:
            report.add('bad_object', message)
        for obj in item.objects:
            label = class_map.get(obj.name, obj.name)
            cat_id = cat_ids.get(label)
            if cat_id is None:
                if discover:  # a provisional id, in order of discovery
                    cat_id = cat_ids[label] = len(cat_ids) + 1
                else:
                    outside.setdefault(label, name)
                    report.add('unknown_class', f'{name}: {label!r}')
                    continue
            box, clipped = voc_box_to_coco(obj.bbox, width, height)
            if box is None:
                report.add('degenerate_box', f'{name}: {label} {list(obj.bbox)}')
                continue
            if clipped:
                report.add('clipped_box', f'{name}: {label} {list(obj.bbox)}')
            area = box[2] * box[3]
            if box[0] % 1 or box[1] % 1 or box[2] % 1 or box[3] % 1:  # whole pixels need no rounding
                box, area = [round(v, 2) for v in box], round(area, 2)
            annotations.append({'id': len(annotations) + 1, 'image_id': image_id, 'category_id': cat_id,
                                'bbox': box, 'area': area, 'iscrowd': int(obj.difficult and crowd)})
        if not item.objects and not item.bad_objects:
            report.add('empty_image', name)
    if outside and unknown == 'error':
        where = {n: outside[n] for n in sorted(outside)}
        raise VOCError(f'{voc_dir}: classes {sorted(outside)} are not in the class list {list(classes)} '
                       f'(first seen in {where}); add them, map them with --class-map old=new, '
                       f'or drop them with --unknown drop')
    if discover:
        final = {label: i + 1 for i, label in enumerate(sorted(cat_ids))}
        remap = {cat_ids[label]: final[label] for label in cat_ids}
        if any(old != new for old, new in remap.items()):
            for ann in annotations:
                ann['category_id'] = remap[ann['category_id']]
        cat_ids = final
    coco['categories'] = [{'id': i, 'name': n, 'supercategory': 'none'} for n, i in cat_ids.items()]
    report.counts.update({'images': len(coco['images']), 'boxes_out': len(coco['annotations'])})
    return coco, ids_by_stem, report


def subset(coco: dict, image_ids: Iterable[int]) -> dict:
    """The part of ``coco`` that covers ``image_ids`` (ids are kept, so splits can be compared)."""
    keep = set(image_ids)
    return {'images': [im for im in coco['images'] if im['id'] in keep],
            'annotations': [a for a in coco['annotations'] if a['image_id'] in keep],
            'categories': coco['categories']}


_RECORD_START = '{"id":'


def _records(encoded: str) -> list[str]:
    """The records of a compact JSON list of objects whose first key is ``id``, one string each.

    One C-speed encoding of a whole list, cut where one record ends and the next begins:
    ``},{"id":`` cannot occur inside a JSON string, where every ``"`` is escaped.
    """
    if encoded == '[]':
        return []
    if not encoded.startswith('[' + _RECORD_START):
        raise ValueError('records must be objects whose first key is "id"')
    return [_RECORD_START + body + '}' for body in encoded[1 + len(_RECORD_START):-2].split('},' + _RECORD_START)]


class EncodedCOCO:
    """A COCO dict encoded to compact JSON once, image by image, to write any subset of it quickly.

    Every split file is a join of the pieces of its images, so an image in train and in
    trainval is encoded once. :meth:`write` gives the bytes of
    ``json.dumps(subset(coco, ids), separators=(',', ':'))`` and holds at most
    :data:`JSON_CHUNK` images' text in memory at a time, never a whole file.
    """

    def __init__(self, coco: dict) -> None:
        dumps = json.JSONEncoder(separators=(',', ':'), check_circular=False).encode  # a tree: no cycles to check
        images, anns = coco['images'], coco['annotations']
        self.order = [im['id'] for im in images]
        self.images: dict[int, str] = {}
        by_image: dict[int, list[str]] = {}
        for start in range(0, max(len(images), len(anns)), JSON_CHUNK):  # chunks: no whole-dataset string
            chunk = images[start:start + JSON_CHUNK]
            self.images.update(zip((im['id'] for im in chunk), _records(dumps(chunk))))
            chunk = anns[start:start + JSON_CHUNK]
            for ann, text in zip(chunk, _records(dumps(chunk))):
                by_image.setdefault(ann['image_id'], []).append(text)
        self.annotations = {i: ','.join(by_image.pop(i)) for i in list(by_image)}  # lists freed as joined
        self.categories = dumps(coco['categories'])

    def write(self, path: str | os.PathLike, image_ids: Iterable[int]) -> None:
        """Write the images ``image_ids`` (in the dataset's order) and their boxes to ``path``."""
        keep = set(image_ids)
        ids = [i for i in self.order if i in keep]
        with open(path, 'w', encoding='utf-8') as f:
            for key, pieces in (('images', self.images), ('annotations', self.annotations)):
                f.write(('{' if key == 'images' else '],') + f'"{key}":[')
                first = True
                for start in range(0, len(ids), JSON_CHUNK):
                    text = ','.join(pieces[i] for i in ids[start:start + JSON_CHUNK] if i in pieces)
                    if text:
                        f.write(text if first else ',' + text)
                        first = False
            f.write('],"categories":' + self.categories + '}')


@_gc_paused
def write_coco_splits(voc_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      classes: Sequence[str] | None = None, class_map: dict[str, str] | None = None,
                      unknown: str = 'drop', split: Sequence[float] | None = None, kfold: int = 0,
                      seed: int = 0, link_images: bool = True, plots: bool = False,
                      progress: bool = False, workers: int | None = None) -> Report:
    """Convert ``voc_dir`` and write ``out_dir/annotations/<split>.json`` plus ``report.json``.

    Splits come from ``ImageSets/Main`` when present, else from ``split``
    fractions (train,val[,test]) or ``kfold`` folds, stratified by each image's
    rarest class and shuffled with ``seed``. ``out_dir/images`` becomes a
    relative symlink to ``voc_dir`` so COCO ``file_name`` resolves. Statistics per
    split go to ``stats.json``; with ``plots`` also PNG charts to ``out_dir/plots``.
    """
    voc_dir, out_dir = Path(voc_dir), Path(out_dir)
    coco, ids_by_stem, report = convert_voc_to_coco(voc_dir, classes, class_map, unknown, progress=progress,
                                                    workers=workers)
    splits = read_split_files(voc_dir)
    if split or kfold:
        strata = image_strata(coco, ids_by_stem)
        splits = random_splits(sorted(ids_by_stem), split, seed, strata) if split else {}
        if kfold:
            splits.update(kfold_splits(sorted(ids_by_stem), kfold, seed, strata))
    if not splits:
        raise VOCError(f'{voc_dir}: no ImageSets/Main/*.txt split files; pass split fractions '
                       f'(e.g. --split 0.8,0.1,0.1) or --kfold K to make a split')
    (out_dir / 'annotations').mkdir(parents=True, exist_ok=True)
    encoded = EncodedCOCO(coco)
    parts = {}
    for name, stems in splits.items():
        missing = [s for s in stems if s not in ids_by_stem]
        for stem in missing:
            report.add('split_id_without_image', f'{name}.txt: {stem}')
        image_ids = [ids_by_stem[s] for s in stems if s in ids_by_stem]
        part = subset(coco, image_ids)
        encoded.write(out_dir / 'annotations' / f'{name}.json', image_ids)
        report.counts[f'images_{name}'] = len(part['images'])
        parts[name] = part
    stats = {name: coco_statistics(part) for name, part in parts.items()}
    (out_dir / 'stats.json').write_text(json.dumps(stats, indent=1))
    if plots:
        from custom.plots import plot_dataset  # matplotlib only when asked for
        plot_dataset({n: p for n, p in parts.items() if n in SPLIT_NAMES} or parts, out_dir / 'plots')
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
