"""Checks run by tools/train.py before any training time is spent.

Each problem names the file or key concerned and what to do about it. The config's own
consistency is :mod:`custom.engine.config_check`; this module looks at what the config points to:
annotation files, images, the work dir and the disk.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import random
import shutil
from typing import Any

import torch

from custom.engine.config import SPLITS, innermost_dataset
from custom.engine.config_check import check_config

SAMPLE_IMAGES = 20  # images decoded per dataloader in 'sample' mode when they are many
FULL_DECODE_BYTES = 200 * 2**20  # 'sample' decodes every image up to this total (~30 MiB/s: under 10 s)


class PreflightError(RuntimeError):
    """Training would fail or silently learn nothing; the message lists every reason and its fix."""


def _decode_problem(path: str) -> str | None:
    """Why ``path`` cannot be used as a training image, or ``None`` when it decodes."""
    import cv2
    import numpy as np
    if not osp.isfile(path):
        return 'does not exist'
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        return 'is empty'
    if cv2.imdecode(data, cv2.IMREAD_COLOR) is None:
        return 'does not decode as an image (corrupt or not an image)'
    return None


def check_annotations(cfg: Any, images: str = 'sample', seed: int = 0, notes: list[str] | None = None) -> list[str]:
    """Problems with each dataloader's annotation file and images.

    ``images``: ``'sample'`` checks that every image exists and decodes them all when they total
    at most :data:`FULL_DECODE_BYTES`, else :data:`SAMPLE_IMAGES` random ones per split; ``'full'``
    decodes every image, ``'off'`` looks at none (the annotation files are still checked).
    What was decoded is appended to ``notes``.
    """
    problems: list[str] = []
    splits: list[tuple[str, list[str]]] = []  # (annotation file, its image paths)
    for split in SPLITS:
        loader = cfg.get(f'{split}_dataloader')
        dataset = innermost_dataset(loader.get('dataset')) if loader else None
        if not dataset or not dataset.get('ann_file'):
            continue
        root = dataset.get('data_root') or ''
        ann_file = osp.join(root, dataset['ann_file'])
        file_names = _check_annotation_file(ann_file, split, dataset, problems)
        prefix = (dataset.get('data_prefix') or {}).get('img', '')
        if file_names is not None:
            splits.append((ann_file, [osp.join(root, prefix, name) for name in file_names]))
    if images != 'off':
        problems += _check_images(splits, images, seed, notes if notes is not None else [])
    return problems


def _check_annotation_file(ann_file: str, split: str, dataset: Any, problems: list[str]) -> list[str] | None:
    """The image file names of COCO file ``ann_file``, or ``None``; its problems are appended to ``problems``."""
    if not osp.isfile(ann_file):
        problems.append(f'{ann_file} ({split}_dataloader) does not exist: convert your data with '
                        f'tools/dataset_converters/voc2coco.py or point the data root (e.g. BCCD_ROOT) at it')
        return None
    try:
        with open(ann_file) as f:
            coco = json.load(f)
        names = [c['name'] for c in coco['categories']]
        file_names = [r['file_name'] for r in coco['images']]
    except (ValueError, KeyError, TypeError) as err:
        problems.append(f'{ann_file} is not a COCO detection file ({err!r}): re-run the converter')
        return None
    classes = list((dataset.get('metainfo') or {}).get('classes') or [])
    missing, extra = [c for c in classes if c not in names], [n for n in names if n not in classes]
    if missing:
        problems.append(f'{ann_file} has no category {missing} of the config classes {classes}: those '
                        f'classes get no boxes and their AP is 0; fix the names in metainfo.classes or '
                        f'convert with --classes {",".join(classes)}')
    if extra and classes:
        problems.append(f'{ann_file} has categories {extra} that the config classes {classes} lack: their '
                        f'boxes would be ignored; add them to metainfo.classes (and num_classes) or '
                        f'merge them when converting with --class-map')
    return file_names


def _check_images(splits: list[tuple[str, list[str]]], images: str, seed: int, notes: list[str]) -> list[str]:
    """Every image exists; all or a sample of them decode (see :func:`check_annotations`)."""
    problems, sizes = [], {}
    for ann_file, paths in splits:
        for path in paths:
            if path not in sizes:
                sizes[path] = osp.getsize(path) if osp.isfile(path) else None
            if sizes[path] is None:
                problems.append(f'{path} (in {ann_file}) does not exist: fix or remove it and re-run the converter')
    total = sum(size for size in sizes.values() if size)
    decode_all = images == 'full' or total <= FULL_DECODE_BYTES
    decoded: set[str] = set()
    for ann_file, paths in splits:
        present = [p for p in paths if sizes[p] is not None]
        chosen = present if decode_all else random.Random(seed).sample(present, min(SAMPLE_IMAGES, len(present)))
        for path in chosen:
            if path in decoded:
                continue
            decoded.add(path)
            reason = _decode_problem(path)
            if reason:
                problems.append(f'{path} (in {ann_file}) {reason}: fix or remove it and re-run the converter')
    notes.append(f'{len(sizes)} images ({total / 2**20:.1f} MiB) checked to exist, '
                 + (f'{len(decoded)} decoded' if decode_all else
                    f'{len(decoded)} decoded ({SAMPLE_IMAGES} a split: they total over '
                    f'{FULL_DECODE_BYTES // 2**20} MiB; --preflight full decodes all)'))
    return problems


def check_work_dir(work_dir: str, needed_bytes: int) -> list[str]:
    """The work dir can be written and its disk has room for ``needed_bytes`` of checkpoints."""
    try:
        os.makedirs(work_dir, exist_ok=True)
        probe = osp.join(work_dir, f'.write_test-{os.getpid()}')
        with open(probe, 'w') as f:
            f.write('ok')
        os.remove(probe)
    except OSError as err:
        return [f'work dir {work_dir} is not writable ({err.strerror}): pass --work-dir DIR on a writable disk']
    free = shutil.disk_usage(work_dir).free
    if free < needed_bytes:
        return [f'work dir {work_dir} has {free / 2**20:.0f} MiB free but checkpoints need about '
                f'{needed_bytes / 2**20:.0f} MiB: free some space or pass --work-dir DIR on another disk']
    return []


def build_on_meta(model_cfg: Any) -> torch.nn.Module:
    """The model ``model_cfg`` builds, on the meta device (shapes only, no weights allocated).

    A module that computes on real tensors while it is built fails there; it is then built normally.
    """
    from mmdet.registry import MODELS
    try:
        with torch.device('meta'):
            return MODELS.build(model_cfg)
    except Exception:  # noqa: BLE001  any module's own __init__ may refuse meta tensors
        return MODELS.build(model_cfg)


def count_parameters(model_cfg: Any) -> int:
    """Parameters of the model ``model_cfg`` builds (:func:`build_on_meta`)."""
    return sum(p.numel() for p in build_on_meta(model_cfg).parameters())


def checkpoint_bytes(cfg: Any, n_params: int) -> int:
    """Disk the kept checkpoints take: weights + optimizer state (x3 for Adam-like, x2 otherwise)."""
    optimizer = str((cfg.get('optim_wrapper') or {}).get('optimizer', {}).get('type', ''))
    per_ckpt = 4 * n_params * (3 if 'Adam' in optimizer else 2) + 2**20
    hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    kept = hook.get('max_keep_ckpts', -1)
    epochs = (cfg.get('train_cfg') or {}).get('max_epochs', 1)
    count = (kept if kept and kept > 0 else epochs) + (1 if hook.get('save_best') else 0) + 1
    return per_ckpt * count


def preflight(cfg: Any, n_params: int, images: str = 'sample') -> list[str]:
    """Raise :class:`PreflightError` listing every problem of ``cfg`` before training starts; else
    return notes on what was checked."""
    notes: list[str] = []
    problems = check_config(cfg) + check_annotations(cfg, images, notes=notes) + check_work_dir(
        cfg.work_dir, checkpoint_bytes(cfg, n_params))
    if problems:
        raise PreflightError('training would fail or learn nothing:\n  - ' + '\n  - '.join(problems))
    return notes
