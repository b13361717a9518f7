"""Reading evaluation inputs: COCO ground truth and detections (COCO results JSON or ``tools/test.py --out``
pickles) as column arrays, checked against each other; writing JSON summaries.

No torch import (a ``.pkl`` results file needs torch to unpickle, and imports it then).
"""
from __future__ import annotations

import contextlib
import io
import json
import numbers
import os
import pickle
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from pycocotools.coco import COCO


class ResultsError(ValueError):
    """Detections that do not fit the ground truth (unknown image or class ids, bad boxes)."""


def plain_id(value: Any) -> Any:
    """An id as a plain Python value (a numpy scalar becomes its ``int`` / ``str``)."""
    return value.item() if isinstance(value, np.generic) else value


def id_column(values: Any) -> np.ndarray:
    """Image or category ids as an array: int64 when all are whole numbers, else an object array.

    pycocotools accepts any hashable id (e.g. file-name strings); those keep their values.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in 'iub':
        return values.astype(np.int64).reshape(-1)
    values = list(np.asarray(values, dtype=object).reshape(-1)) if isinstance(values, np.ndarray) else list(values)
    if all(type(v) is int for v in values) or all(  # plain ints first: the common, fast case
            isinstance(v, numbers.Real) and not isinstance(v, bool) and float(v).is_integer() for v in values):
        return np.fromiter((int(v) for v in values), np.int64, len(values))
    out = np.empty(len(values), dtype=object)
    out[:] = [plain_id(v) for v in values]
    return out


def id_positions(values: np.ndarray, positions: Mapping[Any, int]) -> np.ndarray:
    """``positions[value]`` for each value, -1 where absent (vectorised when all ids are integers)."""
    if not len(positions) or not len(values):
        return np.full(len(values), -1, dtype=np.int64)
    if values.dtype.kind in 'iu' and all(isinstance(k, (int, np.integer)) for k in positions):
        keys = np.fromiter(positions.keys(), np.int64, len(positions))
        vals = np.fromiter(positions.values(), np.int64, len(positions))
        order = np.argsort(keys)
        keys, vals = keys[order], vals[order]
        idx = np.clip(np.searchsorted(keys, values), 0, len(keys) - 1)
        return np.where(keys[idx] == values, vals[idx], -1)
    return np.fromiter((positions.get(plain_id(v), -1) for v in values), np.int64, len(values))


def check_annotation_ids(dataset: Mapping, source: str) -> None:
    """Raise :class:`ResultsError` naming ``source`` when annotation ids repeat.

    pycocotools indexes annotations by id and would silently evaluate the last annotation of a
    repeated id in place of the others.
    """
    ids = [a.get('id') for a in dataset.get('annotations', [])]
    if len(set(ids)) == len(ids):
        return
    seen: set = set()
    dup = sorted({i for i in ids if i in seen or seen.add(i)}, key=str)
    raise ResultsError(f'{source}: repeated annotation ids {dup[:10]} ({len(dup)} in all); pycocotools keeps one '
                       f'annotation per id, so the metrics would be wrong: give every annotation its own id')


def quiet_coco(source: str | Mapping | COCO) -> COCO:
    """A pycocotools ``COCO`` from a path, a dict or an existing object, without its prints."""
    if isinstance(source, COCO):
        return source
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(source, Mapping):
            coco = COCO()
            coco.dataset = dict(source)
            coco.createIndex()
            return coco
        return COCO(str(source))


def detections_to_arrays(dets: Sequence[Mapping] | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """COCO results (list of ``{image_id, category_id, bbox, score}``) as column arrays.

    A dict of arrays (``image_id``, ``category_id``, ``bbox`` (N, 4) xywh, ``score``) passes
    through, converted to the dtypes used here.
    """
    if isinstance(dets, Mapping):
        out = {'image_id': id_column(dets['image_id']),
               'category_id': id_column(dets['category_id']),
               'bbox': np.asarray(dets['bbox'], dtype=np.float64).reshape(-1, 4),
               'score': np.asarray(dets['score'], dtype=np.float64).reshape(-1)}
    else:
        n = len(dets)
        out = {'image_id': id_column([d['image_id'] for d in dets]),
               'category_id': id_column([d['category_id'] for d in dets]),
               'bbox': np.array([d['bbox'] for d in dets], dtype=np.float64).reshape(-1, 4),
               'score': np.fromiter((d['score'] for d in dets), np.float64, n)}
    sizes = {len(v) for v in out.values()}
    if len(sizes) != 1:
        raise ResultsError(f'detection columns differ in length: { {k: len(v) for k, v in out.items()} }')
    return out


def arrays_to_results(arrays: Mapping[str, np.ndarray]) -> list[dict]:
    """Column arrays back to a COCO results list."""
    return [{'image_id': plain_id(i), 'category_id': plain_id(c), 'bbox': [float(v) for v in b], 'score': float(s)}
            for i, c, b, s in zip(arrays['image_id'], arrays['category_id'], arrays['bbox'], arrays['score'])]


def save_json(data: Mapping, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False))
    return path


def load_ground_truth(ann_file: str | os.PathLike):
    """pycocotools ``COCO`` of ``ann_file``; a missing or broken file fails with its name."""
    path = Path(ann_file)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such annotation file (convert the dataset first, or check the '
                                f'data root, e.g. BCCD_ROOT)')
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResultsError(f'{path}: not a COCO JSON file ({exc})') from exc
    if not isinstance(data, dict) or not {'images', 'annotations', 'categories'} <= set(data):
        raise ResultsError(f'{path}: not COCO ground truth (needs images, annotations and categories)')
    check_annotation_ids(data, str(path))
    return quiet_coco(data)


def class_cat_ids(coco_gt, classes: Sequence[str] | None,
                  ann_file: str = 'ground truth') -> tuple[list[int], list[str]]:
    """Category ids of ``classes`` (by name, in that order) and the names; all categories if None."""
    cats = sorted(coco_gt.dataset['categories'], key=lambda c: c['id'])
    if classes is None:
        return [c['id'] for c in cats], [c['name'] for c in cats]
    by_name = {c['name']: c['id'] for c in cats}
    missing = [c for c in classes if c not in by_name]
    if missing:
        raise ResultsError(f'{ann_file}: no category named {missing} (it has {sorted(by_name)}): the config\'s '
                           f'classes and the annotation file disagree')
    return [by_name[c] for c in classes], list(classes)


def read_results_json(path: Path) -> list:
    """The list in a COCO results JSON file; a file that is not one fails with a :class:`ResultsError` naming it."""
    try:
        results = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResultsError(f'{path}: not a JSON results file ({exc})') from exc
    if isinstance(results, dict) and 'annotations' in results:
        raise ResultsError(f'{path}: this is a COCO annotation file; give the detections (a list of '
                           f'{{image_id, category_id, bbox, score}}), e.g. WORK_DIR/detections.bbox.json')
    if not isinstance(results, list):
        raise ResultsError(f'{path}: COCO results must be a JSON list of {{image_id, category_id, bbox, score}}')
    return results


def load_results(path: str | os.PathLike, coco_gt, cat_ids: Sequence[int],
                 ann_file: str = 'the ground truth') -> dict[str, np.ndarray]:
    """Detections of ``path`` as column arrays (``image_id``, ``category_id``, ``bbox`` xywh, ``score``).

    ``path`` is a COCO results JSON (list of ``{image_id, category_id, bbox, score}``, as
    ``tools/test.py`` writes to ``detections.bbox.json``) or the ``.pkl`` of ``tools/test.py
    --out`` (mmdet's DumpDetResults; labels index ``cat_ids``). Detections for images or
    categories the ground truth lacks fail with a :class:`ResultsError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such results file')
    if path.suffix in ('.pkl', '.pickle'):
        arrays = _load_pkl(path, cat_ids)
    else:
        results = read_results_json(path)
        try:
            arrays = detections_to_arrays(results)
        except (KeyError, TypeError, ValueError) as exc:
            bad = next((i for i, r in enumerate(results) if not _is_result(r)), None)
            raise ResultsError(f'{path}: entry {bad} is not {{image_id, category_id, bbox: [x, y, w, h], score}}: '
                               f'{str(results[bad])[:200] if bad is not None else exc}') from exc
    _check_results(path, arrays, coco_gt, cat_ids, ann_file)
    return arrays


def _is_result(r: Any) -> bool:
    """Whether ``r`` looks like one COCO box result (numbers where numbers belong)."""
    try:
        [float(v) for v in r['bbox']]
        float(r['score'])
        return len(r['bbox']) == 4 and int(r['image_id']) == r['image_id'] and int(r['category_id']) == r['category_id']
    except (KeyError, TypeError, ValueError):
        return False


def _load_pkl(path: Path, cat_ids: Sequence[int]) -> dict[str, np.ndarray]:
    try:
        with path.open('rb') as f:
            samples = pickle.load(f)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise ResultsError(f'{path}: cannot read the pickle ({type(exc).__name__}: {exc})') from exc
    if not isinstance(samples, list) or (samples and not all(isinstance(s, dict) and 'pred_instances' in s
                                                             for s in samples)):
        raise ResultsError(f'{path}: not a tools/test.py --out dump (a list of dicts with pred_instances)')
    cols: dict[str, list] = {'image_id': [], 'category_id': [], 'bbox': [], 'score': []}
    lut = np.asarray(cat_ids, dtype=np.int64)
    for i, sample in enumerate(samples):
        pred = sample['pred_instances']
        boxes = np.asarray(_numpy(pred['bboxes']), dtype=np.float64).reshape(-1, 4)
        labels = np.asarray(_numpy(pred['labels']), dtype=np.int64).reshape(-1)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(lut)):
            raise ResultsError(f'{path}: sample {i} has class label {int(labels.max())} but the ground truth has '
                               f'{len(lut)} classes: results of another dataset?')
        n = len(labels)
        cols['image_id'].append(np.full(n, int(sample.get('img_id', i)), dtype=np.int64))
        cols['category_id'].append(lut[labels])
        cols['bbox'].append(np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0],
                                      boxes[:, 3] - boxes[:, 1]], axis=1))
        cols['score'].append(np.asarray(_numpy(pred['scores']), dtype=np.float64).reshape(-1))
    if not samples:
        return detections_to_arrays([])
    return detections_to_arrays({k: np.concatenate(v) for k, v in cols.items()})


def _numpy(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)


def _check_results(path: Path, arrays: Mapping[str, np.ndarray], coco_gt, cat_ids: Sequence[int],
                   ann_file: str) -> None:
    unknown_at = id_positions(arrays['image_id'], {i: 0 for i in coco_gt.imgs}) < 0
    if unknown_at.any():
        n = int(unknown_at.sum())
        unknown = np.unique(arrays['image_id'][unknown_at])
        raise ResultsError(f'{path}: {n} of {len(arrays["image_id"])} detections are for image ids that '
                           f'{ann_file} does not have (e.g. {unknown[:5].tolist()}): results of another dataset '
                           f'or split?')
    bad_cats = np.setdiff1d(arrays['category_id'], np.asarray(cat_ids, dtype=np.int64))
    if len(bad_cats):
        raise ResultsError(f'{path}: detections with category ids {bad_cats[:10].tolist()} that are not among '
                           f'the evaluated classes of {ann_file} (ids {list(cat_ids)})')
    finite = np.isfinite(arrays['bbox']).all(1) & np.isfinite(arrays['score'])
    if not finite.all():
        raise ResultsError(f'{path}: {int((~finite).sum())} detections have non-finite boxes or scores '
                           f'(first at entry {int(np.flatnonzero(~finite)[0])})')
    if (arrays['bbox'][:, 2:] < 0).any():
        i = int(np.flatnonzero((arrays['bbox'][:, 2:] < 0).any(1))[0])
        raise ResultsError(f'{path}: entry {i} has a negative width or height: bbox must be [x, y, w, h]')
