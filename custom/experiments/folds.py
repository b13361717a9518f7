"""K stratified folds of the images a config trains and validates on, written as COCO files.

The pool is ``trainval.json`` beside the config's train file when it exists, else the train and
val files merged (image and annotation ids kept: the converter's splits share one id space). The
test split stays out of every fold. Folds are dealt by the converter's own stratified dealer
(:func:`custom.datasets.splits.kfold_splits`, each image's rarest class as its stratum), so the
same pool and seed give the same folds.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from custom.datasets.coco_writer import subset
from custom.datasets.splits import image_strata, kfold_splits
from custom.experiments import ExperimentError

POOL_FILE = 'pool.json'


def _load(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ExperimentError(f'{path}: cannot read the COCO file ({err}); convert the dataset with '
                              f'tools/dataset_converters/voc2coco.py first') from None


def merge_pool(train_file: str, val_file: str | None) -> dict:
    """The images and boxes of ``train_file`` and ``val_file`` in one COCO dict (ids kept).

    :class:`ExperimentError` when the two files disagree on categories or give one id to two images.
    """
    pool = _load(train_file)
    if not val_file or os.path.abspath(val_file) == os.path.abspath(train_file):
        return pool
    val = _load(val_file)
    if val['categories'] != pool['categories']:
        raise ExperimentError(f'{train_file} and {val_file} have different categories; convert both in one run')
    names = {im['id']: im['file_name'] for im in pool['images']}
    clash = [im['id'] for im in val['images'] if names.get(im['id'], im['file_name']) != im['file_name']]
    if clash:
        raise ExperimentError(f'{train_file} and {val_file} give image ids {clash[:5]} to different files: they '
                              f'come from different conversions; convert the dataset in one run')
    pool['images'] += [im for im in val['images'] if im['id'] not in names]
    seen = {a['id'] for a in pool['annotations']}
    pool['annotations'] += [a for a in val['annotations'] if a['id'] not in seen]
    return pool


def pool_files(train_file: str, val_file: str | None) -> tuple[str, str | None]:
    """``(trainval.json, None)`` when it sits beside ``train_file``, else ``(train_file, val_file)``."""
    trainval = os.path.join(os.path.dirname(train_file), 'trainval.json')
    return (trainval, None) if os.path.isfile(trainval) else (train_file, val_file)


def write_folds(pool: dict[str, Any], k: int, seed: int, out_dir: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Write ``out_dir/pool.json`` and ``fold<i>_train.json`` / ``fold<i>_val.json``; return their paths.

    Files already there with the same content are left untouched (a rerun does not change them).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = {str(im['id']): im['id'] for im in pool['images']}
    if k < 2 or k > len(ids):
        raise ExperimentError(f'--k {k}: needs 2 <= K <= {len(ids)} (the images of train + val)')
    splits = kfold_splits(sorted(ids), k, seed, image_strata(pool, ids))
    _write_if_changed(out / POOL_FILE, pool)
    paths = []
    for i in range(k):
        pair = []
        for part in ('train', 'val'):
            path = out / f'fold{i}_{part}.json'
            pair.append(_write_if_changed(path, subset(pool, (ids[s] for s in splits[f'fold{i}_{part}']))))
        paths.append((pair[0], pair[1]))
    return paths


def _write_if_changed(path: Path, data: dict) -> Path:
    text = json.dumps(data, separators=(',', ':'))
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_suffix(f'.{os.getpid()}.tmp')  # folds may be written by several processes at once
        tmp.write_text(text)
        os.replace(tmp, path)
    return path
