"""Reading detection configs and looking things up in them: the one place that knows their shape.

Reading (``Config.fromfile`` with ``--cfg-options`` merged), walking dataset wrappers
(``RepeatDataset``, ``MultiImageMixDataset``, ``ClassBalancedDataset`` ...), a split's dataset
facts (annotation file, image folder, classes, palette, COCO maxDets), the ``--cfg-options``
key of the training annotation file, the COCO metric of an evaluator and a pipeline step's type.

Imports neither torch nor mmdet (unless a config's ``custom_imports`` do and they are imported).
"""
from __future__ import annotations

import argparse
import os.path as osp
from typing import Any, Collection, Iterator, Mapping, Sequence

SPLITS = ('train', 'val', 'test')
COCO_MAX_DETS = (100, 300, 1000)  # mmdet's CocoMetric default proposal_nums: its logged numbers use these


def read_config(path: str, cfg_options: Mapping | None = None, import_custom_modules: bool = True):
    """``Config.fromfile(path)`` with ``cfg_options`` (a dict as from ``--cfg-options``) merged.

    A missing file raises ``FileNotFoundError`` naming it. Imports neither torch nor mmdet unless
    the config's ``custom_imports`` do (and ``import_custom_modules`` is true).
    """
    from mmengine.config import Config
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such config file (configs live under configs/<dataset>/)')
    cfg = Config.fromfile(path, import_custom_modules=import_custom_modules)
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    return cfg


def parse_cfg_options(options: Sequence[str]) -> dict[str, Any]:
    """``key=value`` strings parsed exactly as the tools' ``--cfg-options`` (mmengine's DictAction)."""
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *options]).o if options else {}


def dataset_levels(dataset: Any, key: str = 'dataset') -> Iterator[tuple[str, Any]]:
    """``(key, dict)`` of each level of a dataset setting, from the outermost wrapper (``RepeatDataset``,
    ``MultiImageMixDataset`` ...; each keeps the next level under ``dataset``) to the dataset itself;
    ``key`` grows by ``.dataset`` a level. Nothing for ``None``."""
    while dataset is not None:
        yield key, dataset
        if 'dataset' not in dataset:
            return
        dataset, key = dataset['dataset'], f'{key}.dataset'


def innermost_dataset(dataset: Any) -> Any:
    """The dataset dict inside any number of dataset wrappers (``None`` for ``None``)."""
    levels = list(dataset_levels(dataset))
    return levels[-1][1] if levels else None


def train_ann_key(cfg: Any) -> str:
    """The ``--cfg-options`` key of the training annotation file, through dataset wrappers."""
    key, _ = list(dataset_levels(cfg.train_dataloader.dataset, 'train_dataloader.dataset'))[-1]
    return key + '.ann_file'


def replace_type(node: Any, old: Collection[Any], new: str) -> None:
    """Set ``type=new`` wherever a config dict (nested in dicts and lists) has a ``type`` in ``old``."""
    if isinstance(node, dict):
        if node.get('type') in old:
            node['type'] = new
        for value in node.values():
            replace_type(value, old, new)
    elif isinstance(node, (list, tuple)):
        for value in node:
            replace_type(value, old, new)


def step_type(step: Mapping) -> str:
    """A pipeline step's transform name without its scope (``'mmdet.Resize'`` -> ``'Resize'``)."""
    kind = step.get('type', '')
    return (kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))).split('.')[-1]


def coco_metrics(evaluator: Any) -> list:
    """The CocoMetric config(s) of an evaluator setting (one dict, a list of dicts, or None)."""
    if not evaluator:
        return []
    items = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    return [e for e in items if isinstance(e, Mapping) and 'CocoMetric' in str(e.get('type', ''))]


def dataset_info(cfg: Any, split: str = 'test') -> dict[str, Any]:
    """Annotation file, image folder, classes, palette and COCO maxDets of ``cfg``'s ``<split>_dataloader``.

    ``ann_file`` is the evaluator's (what CocoMetric scores against) for val/test when it names
    one, else the dataset's ``data_root`` + ``ann_file``; ``max_dets`` are the evaluator's
    ``proposal_nums`` (CocoMetric's maxDets), default :data:`COCO_MAX_DETS`. ``classes`` and
    ``palette`` are ``None`` when the dataset's metainfo has none.
    """
    loader = cfg.get(f'{split}_dataloader')
    if not loader or not loader.get('dataset'):
        raise KeyError(f'the config has no {split}_dataloader.dataset')
    dataset = innermost_dataset(loader['dataset'])
    root = dataset.get('data_root') or ''
    ann_file = dataset.get('ann_file')
    if ann_file and not osp.isabs(ann_file):
        ann_file = osp.join(root, ann_file)
    found = coco_metrics(cfg.get(f'{split}_evaluator')) if split != 'train' else []
    evaluator = found[0] if found else {}
    if evaluator.get('ann_file'):
        ann_file = evaluator['ann_file']
    # CocoMetric's maxDets are its proposal_nums (mmdet's RTMDet configs: (100, 1, 10))
    max_dets = tuple(sorted(evaluator.get('proposal_nums') or COCO_MAX_DETS))
    prefix = (dataset.get('data_prefix') or {}).get('img', '')
    img_root = prefix if osp.isabs(prefix) else osp.join(root, prefix)
    metainfo = dataset.get('metainfo') or {}
    classes = tuple(metainfo['classes']) if metainfo.get('classes') else None
    palette = [tuple(c) for c in metainfo['palette']] if metainfo.get('palette') else None
    return {'ann_file': ann_file, 'img_root': img_root, 'classes': classes, 'palette': palette,
            'max_dets': max_dets}
