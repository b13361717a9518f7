"""Look at a dataset as the config sees it: ground-truth boxes, and images through the train pipeline.

:func:`draw_ground_truth` needs only the COCO JSON and the images (no torch);
:func:`augment_examples` builds the config's training dataset with mmdet (torch imported then).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from custom.engine.config import dataset_info, innermost_dataset
from custom.evaluation.results_io import class_cat_ids, load_ground_truth
from custom.visualization.boxes import class_colors, draw_boxes, image_grid


def _pick(n_total: int, n: int, seed: int | None) -> list[int]:
    """``n`` positions out of ``n_total``: the first ones, or a seeded random choice."""
    n = n_total if n < 0 else min(n, n_total)
    if seed is None:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n_total, n, replace=False).tolist())


def draw_ground_truth(ann_file: str, img_root: str, out_dir: str | os.PathLike, classes: Sequence[str] | None = None,
                      palette: Sequence | None = None, n: int = 16, seed: int | None = None,
                      progress: bool = True) -> list[Path]:
    """Draw the boxes of ``n`` images of ``ann_file`` (class colours) into ``out_dir``; plus ``overview.png``.

    Returns the written pictures, the overview (a grid of all of them) last. A missing image
    fails with its path.
    """
    from tqdm import tqdm
    coco = load_ground_truth(ann_file)
    cat_ids, names = class_cat_ids(coco, classes, ann_file)
    label_of = {c: i for i, c in enumerate(cat_ids)}
    colors = class_colors(len(names), palette)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    img_ids = sorted(coco.imgs)
    written, drawn, captions = [], [], []
    for pos in tqdm(_pick(len(img_ids), n, seed), desc='drawing ground truth', unit='img', disable=not progress):
        info = coco.imgs[img_ids[pos]]
        path = Path(img_root) / info['file_name']
        if not path.is_file():
            raise FileNotFoundError(f'{path}: image {info["file_name"]!r} of {ann_file} not found under {img_root}')
        anns = [a for a in coco.imgToAnns.get(info['id'], []) if a['category_id'] in label_of]
        with Image.open(path) as img:
            pic = draw_boxes(img, np.array([a['bbox'] for a in anns]).reshape(-1, 4),
                             [label_of[a['category_id']] for a in anns], names, colors,
                             tags=['crowd' if a.get('iscrowd') else '' for a in anns])
        written.append(out_dir / f'{Path(info["file_name"]).stem}.jpg')
        pic.save(written[-1], quality=90)
        drawn.append(pic)
        captions.append(f'{Path(info["file_name"]).name} ({len(anns)} boxes)')
    if drawn:
        cols = min(4, len(drawn))
        written.append(out_dir / 'overview.png')
        image_grid(drawn, captions, cols).save(written[-1])
    return written


def _split_dataset_cfg(cfg: Any, split: str) -> Any:
    """The training dataset config (wrappers, pipeline) with the innermost dataset reading ``split``."""
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    if split != 'train':
        inner, source = innermost_dataset(ds_cfg), innermost_dataset(cfg.get(f'{split}_dataloader').dataset)
        for key in ('data_root', 'ann_file', 'data_prefix'):
            if key in source:
                inner[key] = source[key]
        inner['test_mode'] = False
    return ds_cfg


def _pipeline_types(ds_cfg: Any) -> list[str]:
    inner = ds_cfg
    while inner is not None:
        if inner.get('pipeline'):
            return [t['type'] if isinstance(t, dict) else type(t).__name__ for t in inner['pipeline']]
        inner = inner.get('dataset')
    return []


def augment_examples(cfg: Any, split: str, out_dir: str | os.PathLike, n: int = 4, draws: int = 7,
                     seed: int | None = 0, warmup: int = 8, progress: bool = True) -> list[Path]:
    """For ``n`` images of ``split``: the image with its boxes, then ``draws`` runs of the train pipeline.

    Each image gives one grid PNG ``augment_<name>.png`` (original first). Caching mixers
    (CachedMosaic, CachedMixUp) only mix once their cache holds a few images, so the pipeline
    first runs on ``warmup`` other images. ``seed`` seeds numpy, random and torch.
    """
    import random

    import torch
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    from tqdm import tqdm
    register_all_modules()
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
    ds_cfg = _split_dataset_cfg(cfg, split)
    dataset = DATASETS.build(ds_cfg)
    info = dataset_info(cfg, split)
    classes = list(dataset.metainfo.get('classes') or info['classes'] or [])
    colors = class_colors(len(classes), dataset.metainfo.get('palette') or info['palette'])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    picks = _pick(len(dataset), n, None)
    others = [i for i in range(len(dataset)) if i not in picks][:warmup]
    for i in others:
        dataset[i]
    steps = ' > '.join(_pipeline_types(ds_cfg))
    written = []
    for idx in tqdm(picks, desc='augmenting', unit='img', disable=not progress):
        panels, captions, img_path = [], [], None
        for d in range(draws):
            sample = dataset[idx]
            data = sample['data_samples']
            img_path = data.metainfo.get('img_path', img_path)
            img = sample['inputs'].numpy().transpose(1, 2, 0)[..., ::-1]  # CHW BGR -> HWC RGB
            boxes = data.gt_instances.bboxes
            boxes = (boxes.tensor if hasattr(boxes, 'tensor') else boxes).numpy().reshape(-1, 4)
            xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
            labels = data.gt_instances.labels.numpy().tolist()
            panels.append(draw_boxes(Image.fromarray(np.ascontiguousarray(img)), xywh, labels, classes, colors))
            captions.append(f'draw {d + 1}: {img.shape[1]}x{img.shape[0]}, {len(labels)} boxes')
        with Image.open(img_path) as original:
            coco_boxes, coco_labels = _boxes_of(dataset, idx)
            first = draw_boxes(original, coco_boxes, coco_labels, classes, colors)
        grid = image_grid([first, *panels], [f'original {first.width}x{first.height}', *captions],
                          cols=min(4, draws + 1))
        header = Image.new('RGB', (grid.width, 24), (255, 255, 255))
        ImageDraw.Draw(header).text((4, 4), f'{Path(img_path).name}: train pipeline {steps}'[:200], fill=(0, 0, 0))
        out = Image.new('RGB', (grid.width, grid.height + 24), (255, 255, 255))
        out.paste(header, (0, 0))
        out.paste(grid, (0, 24))
        written.append(out_dir / f'augment_{Path(img_path).stem}.png')
        out.save(written[-1])
    return written


def _boxes_of(dataset: Any, idx: int) -> tuple[np.ndarray, list[int]]:
    """Ground-truth boxes (xywh) and labels of item ``idx`` as loaded, before any transform."""
    inner = dataset
    while hasattr(inner, 'dataset'):
        idx = idx % len(inner.dataset)
        inner = inner.dataset
    info = inner.get_data_info(idx)
    inst = [i for i in info.get('instances', []) if not i.get('ignore_flag', 0)]
    boxes = np.array([i['bbox'] for i in inst], dtype=float).reshape(-1, 4)
    boxes[:, 2:] -= boxes[:, :2]
    return boxes, [int(i['bbox_label']) for i in inst]
