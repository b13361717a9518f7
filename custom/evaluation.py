"""Reading, printing and saving the metrics mmdet's CocoMetric returns."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

SUMMARY_KEYS = (('mAP50:95', 'bbox_mAP'), ('mAP50', 'bbox_mAP_50'), ('mAP75', 'bbox_mAP_75'),
                ('mAP_small', 'bbox_mAP_s'), ('mAP_medium', 'bbox_mAP_m'), ('mAP_large', 'bbox_mAP_l'))


def _strip_prefix(metrics: Mapping[str, float]) -> dict[str, float]:
    return {key.split('/', 1)[-1]: value for key, value in metrics.items()}


def _value(raw: float) -> float | None:
    """COCOeval writes -1 where no ground truth exists (e.g. no small boxes): that is no score, not a low one."""
    return None if raw < 0 else float(raw)


def summarize_coco_metrics(metrics: Mapping[str, float], classes: Sequence[str]) -> dict:
    """Group CocoMetric output (``coco/bbox_mAP`` ..., ``coco/<class>_precision``) by overall and per class.

    Values COCOeval reports as -1 (nothing to evaluate in that range) become ``None``.
    """
    flat = _strip_prefix(metrics)
    overall = {name: _value(flat[key]) for name, key in SUMMARY_KEYS if key in flat}
    per_class = {c: _value(flat[f'{c}_precision']) for c in classes if f'{c}_precision' in flat}
    return {'overall': overall, 'per_class_AP50:95': per_class, 'raw': dict(metrics)}


def format_summary(summary: Mapping) -> str:
    """A plain-text table of :func:`summarize_coco_metrics` output."""
    lines = ['metric        value', '------------  ------']
    lines += [f'{name:<12}  {_cell(value, 6)}' for name, value in summary['overall'].items()]
    if summary['per_class_AP50:95']:
        lines += ['', 'class         AP50:95', '------------  -------']
        lines += [f'{name:<12}  {_cell(value, 7)}' for name, value in summary['per_class_AP50:95'].items()]
    return '\n'.join(lines)


def _cell(value: float | None, width: int) -> str:
    return f'{value:{width}.3f}' if value is not None else 'n/a'.rjust(width)


def save_json(data: Mapping, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False))
    return path
