"""What a benchmark reads back and tabulates: checkpoints, test metrics, dataset facts, table cells.

Reads the outputs of training and of the test entry point (``metrics_test.json``, pictures,
logs) and turns rows of ``report.json`` into the text of the results and comparison tables.
Nothing here imports torch, mmengine or mmdet.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from custom.engine.checkpoint_files import checkpoint_is_complete
from custom.engine.config import dataset_info, innermost_dataset

DEFAULT_EVALUATOR = 'fast'  # the test entry point's default (--evaluator); older metrics files lack the key
PICTURE_SUFFIXES = ('.jpg', '.jpeg', '.png')
_TABLE_ROW = re.compile(r'^\|\s*(.+?)\s*\|\s*([\w.\-]+)\s*\|\s*([\w.\-]+)\s*\|')


# --------------------------------------------------------------------------- training and evaluation outputs

def final_checkpoint(work_dir: Path, max_epochs: int) -> Path | None:
    """``work_dir/epoch_<max_epochs>.pth`` when it is a complete checkpoint, else ``None``."""
    path = work_dir / f'epoch_{max_epochs}.pth'
    return path if path.is_file() and checkpoint_is_complete(str(path)) else None


def evaluation_pictures(test_dir: Path) -> list[Path]:
    """The ground truth | prediction pictures of the newest evaluation run in ``test_dir`` that drew some."""
    for run in sorted((p for p in test_dir.glob('*/show') if p.is_dir()), reverse=True):
        found = sorted(p for p in run.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES)
        if found:
            return found
    return []


def _ap_value(text: str) -> float | None:
    """An AP cell of mmdet's class-wise table as a number; ``None`` for nan, -1 or text."""
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) or value < 0 else value


def _logged_per_class_ap50(test_dir: Path) -> dict[str, float | None]:
    """Per-class AP50 from the class-wise table mmdet's CocoMetric writes to the newest evaluation log."""
    logs = sorted(test_dir.glob('*/*.log'))
    rows: dict[str, float | None] = {}
    if not logs:
        return rows
    header = None
    for line in logs[-1].read_text(errors='replace').splitlines():
        if not _TABLE_ROW.match(line):
            continue
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if cells[:3] == ['category', 'mAP', 'mAP_50']:
            header, rows = cells, {}
        elif header and len(cells) == len(header):
            rows[cells[0]] = _ap_value(cells[2])
    return rows


def read_test_metrics(test_dir: Path) -> dict[str, Any]:
    """mAP50, mAP50:95, mAP75, per-class AP50 / AP50:95 and the evaluator of a test-split evaluation.

    Reads ``test_dir/metrics_test.json`` as the test entry point writes it (``overall``,
    ``per_class_AP50``, ``per_class_AP50:95``, ``evaluator``: 'fast' or 'pycocotools', and
    CocoMetric's ``raw`` numbers); a file without ``evaluator`` counts as the fast evaluator.
    Where it has no ``per_class_AP50``, that comes from the class-wise table in the evaluation
    log. No detections at all (CocoMetric then returns nothing) is an AP of 0 with a ``note``.
    """
    summary = json.loads((test_dir / 'metrics_test.json').read_text())
    overall = summary['overall']
    out = {'mAP50': overall.get('mAP50'), 'mAP50:95': overall.get('mAP50:95'), 'mAP75': overall.get('mAP75'),
           'per_class_AP50:95': dict(summary.get('per_class_AP50:95') or {}),
           'per_class_AP50': dict(summary.get('per_class_AP50') or {}),
           'evaluator': summary.get('evaluator') or DEFAULT_EVALUATOR}
    if not out['per_class_AP50']:
        out['per_class_AP50'] = _logged_per_class_ap50(test_dir)
    if out['mAP50'] is None and not overall and not summary.get('raw'):
        # "The testing results of the whole dataset is empty": an AP of 0, not a missing one
        out.update({'mAP50': 0.0, 'mAP50:95': 0.0, 'mAP75': 0.0, 'note': 'no detections on the test split'})
    return out


# --------------------------------------------------------------------------- dataset facts

def count_images(ann_file: str) -> int | None:
    """The number of images in a COCO annotation file; ``None`` when it cannot be read."""
    try:
        return len(json.loads(Path(ann_file).read_text())['images'])
    except (OSError, ValueError, KeyError):
        return None


def _annotation_path(dataset: Mapping) -> str:
    """A dataset's annotation file joined to its ``data_root``."""
    return str(Path(dataset.get('data_root') or '') / dataset['ann_file'])


def dataset_facts(cfg: Any, config: str) -> dict[str, Any]:
    """The row's dataset columns: name (the config's folder), train/test annotation files and image counts, classes.

    ``train_ann`` and ``test_ann`` are the datasets' own ``ann_file`` (relative to their data
    root), counted in the files the dataloaders read; ``classes`` are the test dataset's.
    """
    train = innermost_dataset(cfg.train_dataloader.dataset)
    test = innermost_dataset(cfg.test_dataloader.dataset)
    return {'dataset': Path(config).parent.name, 'train_ann': train['ann_file'],
            'train_images': count_images(dataset_info(cfg, 'train')['ann_file']),
            'test_ann': test['ann_file'], 'test_images': count_images(_annotation_path(test)),
            'classes': list(dataset_info(cfg, 'test')['classes'] or [])}


# --------------------------------------------------------------------------- comparison

def compare_reports(new: Mapping, old: Mapping) -> list[dict[str, Any]]:
    """Per model (matched by name) the change in mAP50, mAP50:95, ms/img and train img/s vs ``old``.

    Models only in one report appear with ``status`` ``'new'`` or ``'removed'`` and no deltas.
    """
    old_models = {m['name']: m for m in old.get('models', [])}
    out = []
    for m in new.get('models', []):
        o = old_models.get(m['name'])
        row: dict[str, Any] = {'name': m['name'], 'status': 'changed' if o else 'new'}
        if o:
            for key in ('mAP50', 'mAP50:95', 'ms_per_img', 'train_img_per_s'):
                a, b = o.get(key), m.get(key)
                row[key] = {'old': a, 'new': b, 'delta': None if a is None or b is None else b - a,
                            'percent': None if not a or b is None else 100 * (b - a) / a}
        out.append(row)
    names = {m['name'] for m in new.get('models', [])}
    out += [{'name': n, 'status': 'removed'} for n in old_models if n not in names]
    return out


# --------------------------------------------------------------------------- number formatting and table rows

def fmt(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, ``'n/a'`` for ``None``."""
    return 'n/a' if value is None else f'{value:.{digits}f}'


def human(value: float | None, unit: str = '') -> str:
    """``4870000 -> '4.87 M'``: thousands, millions, giga, tera."""
    if value is None:
        return 'n/a'
    for scale, prefix in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if abs(value) >= scale:
            return f'{value / scale:.2f} {prefix}{unit}'
    return f'{value:.0f} {unit}'.strip()


def duration(seconds: float | None) -> str:
    """``95 -> '95 s'``, ``300 -> '5.0 min'``, ``9000 -> '2.50 h'``."""
    if seconds is None:
        return 'n/a'
    if seconds < 120:
        return f'{seconds:.0f} s'
    if seconds < 7200:
        return f'{seconds / 60:.1f} min'
    return f'{seconds / 3600:.2f} h'


def per_class_cell(per_class: Mapping[str, float | None]) -> str:
    """``'RBC 0.72, WBC 0.97'``: each class with its AP to two decimals."""
    return ', '.join(f'{c} {fmt(v, 2)}' for c, v in per_class.items()) or 'n/a'


RESULT_COLUMNS = ('model', 'dataset (train split)', 'input', 'epochs', 'mAP50', 'mAP50:95', 'AP50 per class',
                  'params', 'FLOPs', 'ms/img', 'train img/s', 'batch', 'train wall time')
DELTA_COLUMNS = ('model', 'mAP50', 'mAP50:95', 'ms/img', 'train img/s')


def result_rows(models: Sequence[Mapping]) -> list[list[str]]:
    """The cells of the results table, one list per model, in :data:`RESULT_COLUMNS` order."""
    rows = []
    for m in models:
        dataset = f"{m.get('dataset', '?')} ({Path(str(m.get('train_ann', '?'))).stem}"
        dataset += f", {m['train_images']} img)" if m.get('train_images') else ')'
        epochs = str(m['epochs'])
        if m.get('config_epochs') and m['config_epochs'] != m['epochs']:
            epochs += f" (config {m['config_epochs']})"
        rows.append([m['name'], dataset, m.get('input_size', 'n/a'), epochs, fmt(m.get('mAP50')),
                     fmt(m.get('mAP50:95')), per_class_cell(m.get('per_class_AP50') or {}), human(m.get('params')),
                     human(m.get('flops')), fmt(m.get('ms_per_img'), 1), fmt(m.get('train_img_per_s'), 1),
                     str(m.get('batch_size', 'n/a')), duration(m.get('train_wall_s'))])
    return rows


def delta_cell(change: Mapping | None, digits: int, percent: bool) -> str:
    """``'0.800 -> 0.861 (+0.061)'``, with ``', +5%'`` inside the brackets when ``percent``."""
    if not change or change.get('delta') is None:
        return 'n/a'
    text = f"{fmt(change['old'], digits)} -> {fmt(change['new'], digits)} ({change['delta']:+.{digits}f}"
    if percent and change.get('percent') is not None:
        text += f", {change['percent']:+.0f}%"
    return text + ')'


def delta_rows(comparison: Sequence[Mapping]) -> list[list[str]]:
    """The cells of the comparison table (rows of :func:`compare_reports`), in :data:`DELTA_COLUMNS` order."""
    rows = []
    for r in comparison:
        if r['status'] != 'changed':
            rows.append([r['name'], *[f"({r['status']})"] * 4])
            continue
        rows.append([r['name'], delta_cell(r['mAP50'], 3, False), delta_cell(r['mAP50:95'], 3, False),
                     delta_cell(r['ms_per_img'], 1, True), delta_cell(r['train_img_per_s'], 1, True)])
    return rows
