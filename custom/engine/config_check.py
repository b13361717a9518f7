"""Catch inconsistent detection configs before any training time is spent."""
from __future__ import annotations

import os.path as osp
from typing import Any, Iterator

from custom.engine.config import SPLITS, dataset_levels, innermost_dataset


class ConfigError(ValueError):
    """A config whose parts disagree; the message says which keys and what to change."""


def _merged_into_wrapper(split: str, dataset: Any) -> Iterator[str]:
    """Wrapper levels that also carry a dataset's own keys: a plain dataset dict was merged into the
    base's RepeatDataset (mmdet's ssd300, ssdlite, yolov3-mobilenetv2) instead of under its `dataset`."""
    for key, level in list(dataset_levels(dataset, f'{split}_dataloader.dataset'))[:-1]:
        own = sorted(k for k in ('ann_file', 'data_root', 'metainfo') if k in level)
        if own:
            yield (f'{key} mixes a wrapper\'s `dataset` key with a dataset\'s {", ".join(own)} '
                   f'(type={level.get("type")!r}): a dataset dict was merged into the base config\'s '
                   f'dataset wrapper; put it under the wrapper as {key}=dict(dataset=...), or replace '
                   f'the wrapper with _delete_=True')


def _head_num_classes(model: Any) -> Iterator[tuple[str, int]]:
    head = model.get('bbox_head') or {}
    if 'num_classes' in head:
        yield 'model.bbox_head.num_classes', head['num_classes']
    heads = (model.get('roi_head') or {}).get('bbox_head') or []
    for i, head in enumerate(heads if isinstance(heads, list) else [heads]):
        if 'num_classes' in head:
            yield f'model.roi_head.bbox_head[{i}].num_classes', head['num_classes']


def check_config(cfg: Any) -> list[str]:
    """Problems in ``cfg`` (an mmengine Config), each naming the keys and the fix; empty if consistent."""
    problems = []
    classes_by_split = {}
    for split in SPLITS:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        dataset = innermost_dataset(loader.get('dataset'))
        classes = (dataset.get('metainfo') or {}).get('classes')
        if not classes:
            problems.append(f'{split}_dataloader.dataset has no metainfo.classes: checkpoints and metrics '
                            f'would carry COCO class names; set metainfo=dict(classes=(...)) on it')
            continue
        classes_by_split[split] = tuple(classes)
        evaluator = cfg.get(f'{split}_evaluator') if split != 'train' else None
        if evaluator and isinstance(evaluator, dict) and evaluator.get('ann_file') and dataset.get('ann_file'):
            expected = osp.normpath(osp.join(dataset.get('data_root') or '', dataset['ann_file']))
            if osp.normpath(evaluator['ann_file']) != expected:
                problems.append(f'{split}_evaluator.ann_file is {evaluator["ann_file"]!r} but '
                                f'{split}_dataloader reads {expected!r}: make them the same file')
    if len(set(classes_by_split.values())) > 1:
        problems.append(f'dataloaders disagree on classes: {classes_by_split}; use one metainfo for all')
    for split in SPLITS:
        problems.extend(_merged_into_wrapper(split, (cfg.get(f'{split}_dataloader') or {}).get('dataset')))
    if ((cfg.get('model') or {}).get('bbox_head') or {}).get('type') == 'SSDHead':
        problems.append("model.bbox_head.type is 'SSDHead', whose val/test steps fail under mmdet 3.3 "
                        "(no attribute 'loss_cls'): set model.bbox_head.type='FixedSSDHead' (custom.modules)")
    if classes_by_split:
        n = len(next(iter(classes_by_split.values())))
        for key, value in _head_num_classes(cfg.get('model') or {}):
            if value != n:
                problems.append(f'{key} is {value} but the dataset has {n} classes: set {key}={n}')
    return problems


def assert_config_consistent(cfg: Any, name: str = 'config') -> None:
    """Raise :class:`ConfigError` listing every problem :func:`check_config` finds."""
    problems = check_config(cfg)
    if problems:
        raise ConfigError(f'{name} is inconsistent:\n  - ' + '\n  - '.join(problems))
