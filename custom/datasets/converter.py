"""Pascal-VOC folder -> one COCO dict, with every dropped or changed box reported.

Conventions (1-based VOC pixels -> 0-based COCO boxes, difficult -> iscrowd) are those of
:mod:`custom.datasets.voc_xml`. No torch, mmdet or matplotlib import.
"""
from __future__ import annotations

import functools
import gc
import os
from collections import Counter
from operator import itemgetter
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from custom.datasets.image_files import find_annotation_files, find_image
from custom.datasets.imagesize import ImageSizeError, image_size
from custom.datasets.voc_xml import MAX_XML_BYTES, VOCError, VOCImage, parse_voc_xml, voc_box_to_coco

PROGRESS_MIN_FILES = 2000  # below this a conversion takes about a second: no progress bar
PARALLEL_MIN_FILES = 20000  # from here on, parse in one process per core (start-up ~0.1 s is then small)
PARALLEL_CHUNK = 500  # files per task sent to a worker process
MAX_WORKERS = 8


class Report:
    """Problems found while converting, by kind, each with the files concerned; and counts."""

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {}
        self.counts: Counter = Counter()

    def add(self, kind: str, detail: str) -> None:
        """Record one problem; a file name that is not UTF-8 is kept with its bytes escaped (``\\xe9``)."""
        self.problems.setdefault(kind, []).append(detail if detail.isascii() else escape_name(detail))

    def to_dict(self) -> dict:
        return {'counts': dict(self.counts),
                'problems': {k: {'count': len(v), 'items': v} for k, v in sorted(self.problems.items())}}

    def summary(self) -> str:
        lines = [f'{k}: {v}' for k, v in self.counts.items()]
        for kind, items in sorted(self.problems.items()):
            shown = ', '.join(items[:5]) + (f', ... ({len(items) - 5} more)' if len(items) > 5 else '')
            lines.append(f'PROBLEM {kind} ({len(items)}): {shown}')
        return '\n'.join(lines)


BOX_DROP_KINDS = ('bad_object', 'unknown_class', 'degenerate_box')


def escape_name(text: str) -> str:
    """``text`` with the bytes of a non-UTF-8 file name written as ``\\xe9``: printable and JSON-safe."""
    try:
        text.encode('utf-8')
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode('utf-8', 'surrogateescape')  # os.fsdecode's undecodable bytes
        except UnicodeEncodeError:
            return text.encode('utf-8', 'backslashreplace').decode('utf-8')
        return raw.decode('utf-8', 'backslashreplace')


def parse_class_map(pairs: Iterable[str]) -> dict[str, str]:
    """``['old=new', ...]`` -> ``{'old': 'new'}`` for merging or renaming classes."""
    mapping = {}
    for pair in pairs:
        old, sep, new = pair.partition('=')
        if not sep or not old.strip() or not new.strip():
            raise ValueError(f'class map entry {pair!r} is not of the form old=new')
        mapping[old.strip()] = new.strip()
    return mapping


def _load(root: str, xml_path: str, cache: dict, max_bytes: int) -> tuple:
    """Parse one XML file, find its image and read the image's size.

    Returns ``(item, image_path, (width, height))``, or ``(kind, message, boxes_lost,
    estimated)`` when the file cannot be used; no error escapes for one file.
    """
    try:
        item = parse_voc_xml(xml_path, max_bytes)
    except VOCError as err:
        return 'unreadable_xml', str(err), err.boxes, err.estimated
    boxes = len(item.objects) + len(item.bad_objects)
    relative = xml_path[len(root):]
    if not relative.isascii() and escape_name(relative) != relative:
        return 'file_name_not_utf8', f'{escape_name(xml_path)}: the name is not UTF-8; rename the file', boxes, False
    try:
        image_path = find_image(root, item, cache)
    except OSError as err:
        return 'missing_image', f'{os.path.basename(xml_path)}: image folder not readable: {err}', boxes, False
    if image_path is None:
        return ('missing_image', f'{os.path.basename(xml_path)}: <filename> {item.filename!r} not found',
                boxes, False)
    try:
        size = image_size(image_path)
    except (ImageSizeError, OSError) as err:
        return 'unreadable_image', f'{os.path.basename(xml_path)}: {err}', boxes, False
    return item, image_path, size


def _load_chunk(args: tuple[str, list[str], int]) -> list[tuple]:
    root, files, max_bytes = args
    cache: dict = {}
    return [_load(root, path, cache, max_bytes) for path in files]


def _load_all(root: str, xml_files: Sequence[str], workers: int, progress: bool,
              max_bytes: int) -> Iterable[tuple]:
    """:func:`_load` over every file, in order; across ``workers`` processes when > 1."""
    bar = None
    if progress and len(xml_files) >= PROGRESS_MIN_FILES:
        from tqdm import tqdm  # imported only for long runs: it costs more than parsing 500 files
        bar = tqdm(total=len(xml_files), desc='parse VOC', unit='file')
    if workers <= 1:
        cache: dict = {}
        for path in xml_files:
            yield _load(root, path, cache, max_bytes)
            if bar is not None:
                bar.update()
    else:
        import multiprocessing
        chunks = [(root, list(xml_files[i:i + PARALLEL_CHUNK]), max_bytes)
                  for i in range(0, len(xml_files), PARALLEL_CHUNK)]
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


def _collect(voc_dir: Path, xml_files: Sequence[str], report: Report, progress: bool, workers: int,
             max_bytes: int) -> Iterator[tuple[VOCImage, str]]:
    """Parse every XML file, resolve its image and check its size; unusable files go to ``report``.

    Yields ``(item, image_path)`` file by file, so a caller need not hold every parsed file.

    The image's own size wins over the XML's ``<size>``: it is what the model is trained on.
    A missing ``<size>`` is reported as ``size_from_image``, a different one as ``size_mismatch``;
    two files naming one image as ``shared_image`` (both kept), an id with a space as ``id_with_space``.
    """
    seen: dict[str, str] = {}
    described: dict[str, str] = {}  # image path -> the XML file naming it
    for xml_path, result in zip(xml_files, _load_all(str(voc_dir), xml_files, workers, progress, max_bytes)):
        if isinstance(result[0], str):
            kind, message, boxes, estimated = result
            if estimated and boxes:
                report.counts['boxes_in_estimated'] += boxes
                message += f' (~{boxes} boxes: <object> tags counted, not parsed)'
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
        if ' ' in stem:
            report.add('id_with_space', f'{xml_path}: id {stem!r} has a space (ImageSets lines are read whole)')
        if image_path in described:
            report.add('shared_image', f'{name}: names the image {os.path.basename(image_path)} of '
                       f'{described[image_path]} too; both kept, fix the <filename> of one')
        else:
            described[image_path] = name
        if item.width <= 0 or item.height <= 0:
            report.add('size_from_image', f'{name}: no usable <size>, image is {width}x{height}')
        elif (item.width, item.height) != (width, height):
            hint = ' (rotated by EXIF orientation?)' if (item.height, item.width) == (width, height) else ''
            report.add('size_mismatch', f'{name}: <size> says {item.width}x{item.height}, '
                       f'the image is {width}x{height}{hint}; boxes are clipped to the image')
        item.width, item.height = width, height
        yield item, image_path


def gc_paused(fn):
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


@gc_paused
def convert_voc_to_coco(voc_dir: str | os.PathLike, classes: Sequence[str] | None = None,
                        class_map: dict[str, str] | None = None, unknown: str = 'drop',
                        difficult_as_crowd: bool = True, progress: bool = False,
                        workers: int | None = None, max_xml_bytes: int = MAX_XML_BYTES
                        ) -> tuple[dict, dict[str, int], Report]:
    """Convert every annotation of ``voc_dir`` into one COCO dict.

    Returns ``(coco, image_ids_by_stem, report)``. Names are first renamed by
    ``class_map``; category ids follow ``classes`` (1-based) or, when not given,
    the sorted class names found. A name outside ``classes`` is dropped and
    counted (``unknown='drop'``) or raises :class:`VOCError` (``unknown='error'``).
    Image ``file_name`` is relative to ``voc_dir``. Nothing is dropped silently:
    ``boxes_in == boxes_out + boxes_of_dropped_images + len(problems[k])`` summed
    over :data:`BOX_DROP_KINDS` (``boxes_in_estimated`` of them counted as ``<object>`` tags of
    files that could not be parsed). Files over ``max_xml_bytes`` are refused. ``workers``
    processes parse the files (default: :func:`default_workers`); the result does not depend on it.
    """
    check_classes(classes, unknown)
    voc_dir = Path(voc_dir)
    check_voc_dir(voc_dir)
    xml_files, skipped = find_annotation_files(voc_dir)
    if not xml_files:
        raise VOCError(f'{voc_dir}: no .xml annotation files found (looked in Annotations/, '
                       f'annotations/ and beside the images)')
    report = Report()
    report.counts.update({'xml_files': len(xml_files), 'boxes_in': 0, 'boxes_of_dropped_images': 0})
    for message in skipped:
        report.add('not_a_file', message)
    workers = default_workers(len(xml_files)) if workers is None else workers
    class_map = class_map or {}
    discover = not classes  # ids then follow the sorted names found, known only at the end
    cat_ids = {} if discover else {name: i + 1 for i, name in enumerate(classes)}
    outside: dict[str, str] = {}  # class outside `classes` -> first file it is in
    coco: dict = {'images': [], 'annotations': [], 'categories': []}
    ids_by_stem: dict[str, int] = {}
    images, annotations = coco['images'], coco['annotations']
    prefix = str(voc_dir) + os.sep
    crowd = bool(difficult_as_crowd)
    for item, image_path in _collect(voc_dir, xml_files, report, progress, workers, max_xml_bytes):  # streamed
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
    _check_class_names(coco, cat_ids, outside, discover, report)
    report.counts.update({'images': len(coco['images']), 'boxes_out': len(coco['annotations'])})
    return coco, ids_by_stem, report


def check_voc_dir(voc_dir: Path) -> None:
    """``FileNotFoundError`` naming ``voc_dir`` when it is not a folder."""
    if not voc_dir.is_dir():
        raise FileNotFoundError(f'{voc_dir}: no such folder (expected a Pascal-VOC dataset folder)')


def check_classes(classes: Sequence[str] | None, unknown: str = 'drop') -> None:
    """Raise ``ValueError`` for a class list with an empty or repeated name, or a bad ``unknown`` policy."""
    if unknown not in ('drop', 'error'):
        raise ValueError(f"unknown must be 'drop' or 'error', got {unknown!r}")
    if not classes:
        return
    empty = [i + 1 for i, name in enumerate(classes) if not name.strip()]
    if empty:
        raise ValueError(f'class list {list(classes)}: name {empty[0]} is empty (two commas in a row, or one at '
                         f'an end of --classes?); remove it')
    if len(set(classes)) != len(classes):
        raise ValueError(f'duplicate class names in {list(classes)}')


def _check_class_names(coco: dict, cat_ids: dict[str, int], outside: dict[str, str], discover: bool,
                       report: Report) -> None:
    """Report classes of the list without a box, and class names found that differ only by case."""
    per_class = Counter(map(itemgetter('category_id'), coco['annotations']))
    if not discover:
        for label, cat_id in cat_ids.items():
            if not per_class.get(cat_id):
                report.add('class_without_boxes', f'{label!r} is in the class list but no box has it')
    found = [label for label, cat_id in cat_ids.items() if per_class.get(cat_id)] + sorted(outside)
    by_case: dict[str, list[str]] = {}
    for label in found:
        by_case.setdefault(label.casefold(), []).append(label)
    for labels in by_case.values():
        if len(labels) > 1:  # rare: the files are looked up only here
            files = [outside.get(label) or _first_file(coco, cat_ids[label]) for label in labels]
            where = ', '.join(f'{label!r} in {file}' for label, file in zip(labels, files))
            report.add('class_case_clash', f'class names differ only by case: {where}; merge them with '
                       f'--class-map {labels[1]}={labels[0]}')


def _first_file(coco: dict, cat_id: int) -> str:
    image_id = next(a['image_id'] for a in coco['annotations'] if a['category_id'] == cat_id)
    return coco['images'][image_id - 1]['file_name']
