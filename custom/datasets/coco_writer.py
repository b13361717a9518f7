"""Writing a converted dataset: COCO JSON per split, ``report.json``, ``stats.json`` and the images link."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from custom.datasets.converter import Report, check_classes, check_voc_dir, convert_voc_to_coco, gc_paused
from custom.datasets.splits import (check_fractions, image_strata, kfold_splits, random_splits, read_folder_splits,
                                    read_split_files, split_overlaps)
from custom.datasets.statistics import coco_statistics
from custom.datasets.voc_xml import MAX_XML_BYTES, VOCError

JSON_CHUNK = 2000  # records encoded per call, and images written per call, when writing COCO JSON
RAW_DIR = 'raw'  # data/NAME/raw: the downloaded VOC files of data/NAME, converted beside them
SPLIT_FILE = re.compile(r'(train|val|test|trainval|fold\d+_(train|val))\.json')  # what a run writes


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


def check_out_dir(voc_dir: Path, out_dir: Path, link_images: bool = True) -> None:
    """Raise :class:`VOCError` when writing to ``out_dir`` would touch ``voc_dir`` or fail half-way.

    ``out_dir`` must not be ``voc_dir`` nor a folder above it (except ``voc_dir == out_dir/raw``, the
    layout of a downloaded dataset), nor a file, and an existing ``out_dir/images`` must be the link
    to ``voc_dir`` that a conversion makes.
    """
    voc, out = voc_dir.resolve(), out_dir.resolve()
    if (out == voc or out in voc.parents) and voc != out / RAW_DIR:
        raise VOCError(f'--out-dir {out_dir} is the dataset folder {voc_dir} or a folder above it: writing there '
                       f'could overwrite the annotations; choose a folder outside it, e.g. data/NAME')
    for path in (out_dir, out_dir / 'annotations'):
        if path.exists() and not path.is_dir():
            raise VOCError(f'{path} exists and is not a folder; remove it or use another --out-dir')
    link = out_dir / 'images'
    if link_images and (link.is_symlink() or link.exists()):
        if not link.is_symlink() or os.readlink(link) != os.path.relpath(voc, out):
            raise VOCError(f'{link} exists and is not a link to {voc_dir}; remove it or use another --out-dir')


def _choose_splits(voc_dir: Path, split: Sequence[float] | None, kfold: int,
                   allow_overlap: bool) -> tuple[dict[str, list[str]], list[str], str]:
    """The listed splits (none when ``split``/``kfold`` make them), their overlaps, checked, and where
    they were listed: ``ImageSets/Main`` first, else the ``train/ valid/ test/`` folders."""
    if split:
        check_fractions(split)
    if split or kfold:
        return {}, [], ''
    splits = read_split_files(voc_dir)
    where, listed = voc_dir / 'ImageSets' / 'Main', f'ImageSets/Main/{{{",".join(splits)}}}.txt'
    if not splits:
        splits, where = read_folder_splits(voc_dir), voc_dir
        listed = 'the split folders (train/ valid/ test/)'
    if not splits:
        raise VOCError(f'{voc_dir}: no ImageSets/Main/*.txt split files and no train/ valid/ test/ folders; '
                       f'pass split fractions (e.g. --split 0.8,0.1,0.1) or --kfold K to make a split')
    overlaps = split_overlaps(splits)
    if overlaps and not allow_overlap:
        raise VOCError(f"{where}: {'; '.join(overlaps)}. An image in two splits "
                       f'leaks into evaluation; fix the lists, or pass --allow-overlap to keep them')
    return splits, overlaps, listed


@gc_paused
def write_coco_splits(voc_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      classes: Sequence[str] | None = None, class_map: dict[str, str] | None = None,
                      unknown: str = 'drop', split: Sequence[float] | None = None, kfold: int = 0,
                      seed: int = 0, link_images: bool = True, progress: bool = False,
                      workers: int | None = None, allow_overlap: bool = False,
                      max_xml_bytes: int = MAX_XML_BYTES) -> Report:
    """Convert ``voc_dir`` and write ``out_dir/annotations/<split>.json`` plus ``report.json``.

    Splits come from ``ImageSets/Main`` when present, else from ``train/ valid/ test/`` folders
    (:func:`custom.datasets.splits.read_folder_splits`, Roboflow's layout), else from ``split``
    fractions (train,val[,test]; a 0 leaves that split out) or ``kfold`` folds, stratified by
    each image's rarest class and shuffled with ``seed``. ``out_dir/images`` becomes a
    relative symlink to ``voc_dir`` so COCO ``file_name`` resolves. Statistics per
    split go to ``stats.json`` (plots of them: :func:`custom.visualization.dataset_plots.plot_split_files`).

    Nothing is written before the arguments, ``out_dir`` and the split lists are checked
    (an id in two of train/val/test raises :class:`VOCError` unless ``allow_overlap``);
    split files of an earlier run that this one does not write are removed.
    """
    voc_dir, out_dir = Path(voc_dir), Path(out_dir)
    check_classes(classes, unknown)
    check_voc_dir(voc_dir)
    check_out_dir(voc_dir, out_dir, link_images)
    splits, overlaps, listed = _choose_splits(voc_dir, split, kfold, allow_overlap)
    coco, ids_by_stem, report = convert_voc_to_coco(voc_dir, classes, class_map, unknown, progress=progress,
                                                    workers=workers, max_xml_bytes=max_xml_bytes)
    for message in overlaps:
        report.add('split_overlap', message)
    if split or kfold:
        strata = image_strata(coco, ids_by_stem)
        splits = random_splits(sorted(ids_by_stem), split, seed, strata) if split else {}
        if kfold:
            splits.update(kfold_splits(sorted(ids_by_stem), kfold, seed, strata))
    else:
        in_a_split = set().union(*splits.values())
        for stem in ids_by_stem:
            if stem not in in_a_split:
                report.add('image_in_no_split', f'{stem}: in none of {listed}; '
                           f'its boxes are in no output file')
    (out_dir / 'annotations').mkdir(parents=True, exist_ok=True)
    encoded = EncodedCOCO(coco)
    parts = {}
    for name, stems in splits.items():
        for stem in stems:
            if stem not in ids_by_stem:
                report.add('split_id_without_image', f'{name}.txt: {stem}')
        image_ids = [ids_by_stem[s] for s in stems if s in ids_by_stem]
        part = subset(coco, image_ids)
        encoded.write(out_dir / 'annotations' / f'{name}.json', image_ids)
        report.counts[f'images_{name}'] = len(part['images'])
        if not part['images']:
            report.add('empty_split', f'{name}.json has no images: its list is empty, or its fraction is too small '
                       f'for {len(ids_by_stem)} images (a fraction of 0 leaves a split out)')
        parts[name] = part
    for path in (out_dir / 'annotations').glob('*.json'):
        if SPLIT_FILE.fullmatch(path.name) and path.stem not in parts:  # left by an earlier run
            path.unlink()
            report.counts['stale_split_files_removed'] += 1
    stats = {name: coco_statistics(part) for name, part in parts.items()}
    (out_dir / 'stats.json').write_text(json.dumps(stats, indent=1))
    link = out_dir / 'images'
    if link_images and not link.is_symlink():
        link.symlink_to(os.path.relpath(voc_dir.resolve(), out_dir.resolve()), target_is_directory=True)
    (out_dir / 'report.json').write_text(json.dumps(report.to_dict(), indent=1))
    return report
