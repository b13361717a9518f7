"""YOLO anchors fitted to a dataset's training boxes by mmdet's own k-means.

The clustering is mmdet's ``YOLOKMeansAnchorOptimizer`` (``tools/analysis_tools/optimize_anchors.py``,
shipped inside the mmdet package under ``.mim/``), run on the config's training dataset with the
boxes scaled as a keep-ratio resize to the input shape scales them. This module adds what that
script leaves to the user: the fitted anchors split into the config's levels (largest anchors to the
level that had the largest), and the boxes' mean best IoU with the fitted and with the config's anchors
(boxes and anchors centred on one point, the measure the k-means maximises), and how many anchors
the config's ``GridAssigner`` makes positive a box with either set (:func:`positives_per_box`).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from custom.engine.config import innermost_dataset

Size = tuple[int, int]


class AnchorError(ValueError):
    """A config whose anchors cannot be fitted here (the message names the config's setting)."""


@dataclass(frozen=True)
class FittedAnchors:
    """Anchors fitted to ``num_boxes`` training boxes at ``input_shape`` (width, height)."""
    base_sizes: list[list[Size]]  # as ``anchor_generator.base_sizes``: one list per level, in the config's order
    mean_iou: float               # the boxes' mean best IoU with the fitted anchors
    config_mean_iou: float        # the same with the config's anchors
    num_boxes: int
    input_shape: Size

    def cfg_option(self) -> str:
        """The ``--cfg-options`` item that sets these anchors."""
        levels = ','.join('[' + ','.join(f'({w},{h})' for w, h in level) + ']' for level in self.base_sizes)
        return f'model.bbox_head.anchor_generator.base_sizes=[{levels}]'


def mean_best_iou(box_whs: np.ndarray, anchor_whs: np.ndarray) -> float:
    """Mean over boxes (N x 2 widths, heights) of the best IoU with any anchor (M x 2), all centred on one point."""
    box_whs, anchor_whs = np.asarray(box_whs, float), np.asarray(anchor_whs, float)
    inter = (np.minimum(box_whs[:, None, 0], anchor_whs[None, :, 0])
             * np.minimum(box_whs[:, None, 1], anchor_whs[None, :, 1]))
    union = (box_whs[:, 0] * box_whs[:, 1])[:, None] + (anchor_whs[:, 0] * anchor_whs[:, 1])[None, :] - inter
    return float((inter / union).max(axis=1).mean())


def group_by_level(anchors: Sequence[Sequence[float]], base_sizes: Sequence[Sequence[Sequence[float]]]
                   ) -> list[list[Size]]:
    """``anchors`` (width, height) rounded and split into levels shaped like ``base_sizes``.

    The smallest anchors by area go to the level whose present anchors are smallest on average,
    and so on up; each level keeps its number of anchors and its place in the list, and within a
    level the anchors are ordered by area.
    """
    counts = [len(level) for level in base_sizes]
    if sum(counts) != len(anchors):
        raise AnchorError(f'{len(anchors)} anchors for {sum(counts)} places in base_sizes')
    by_area = sorted(((round(w), round(h)) for w, h in anchors), key=lambda wh: (wh[0] * wh[1], wh))
    level_order = sorted(range(len(base_sizes)), key=lambda i: np.mean([w * h for w, h in base_sizes[i]]))
    grouped: list[list[Size]] = [[] for _ in base_sizes]
    start = 0
    for i in level_order:
        grouped[i] = by_area[start:start + counts[i]]
        start += counts[i]
    return grouped


@dataclass(frozen=True)
class ScaledImage:
    """One training image's boxes (x1, y1, x2, y2, pixels) and size (height, width) after a keep-ratio resize."""
    boxes: np.ndarray
    shape: Size


def scaled_images(dataset: Any, input_shape: Size) -> list[ScaledImage]:
    """The boxes of each image of an mmdet dataset that has any, scaled as mmdet's anchor optimizer scales
    them: by the input shape's side over the image's longer side (a keep-ratio resize to a square input).
    Boxes the training ignores (``iscrowd``) are left out."""
    images = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        boxes = np.array([inst['bbox'] for inst in info['instances'] if not inst.get('ignore_flag')],
                         float).reshape(-1, 4)
        if len(boxes):
            width, height = info['width'], info['height']
            scale = min(input_shape[0], input_shape[1]) / max(width, height)
            images.append(ScaledImage(boxes * scale, (round(height * scale), round(width * scale))))
    return images


def positives_per_box(images: Sequence[ScaledImage], base_sizes: Sequence[Sequence[Sequence[float]]],
                      strides: Sequence[int], assigner: Mapping) -> float:
    """Mean number of anchors mmdet's YOLOv3 head makes positive for a training box: the ``assigner`` (the
    config's ``GridAssigner``) over the anchors of the grid cells holding a box centre
    (``YOLOV3Head.responsible_flags``), each image padded to a multiple of the largest stride."""
    from types import SimpleNamespace

    import torch
    from mmdet.models.dense_heads import YOLOV3Head
    from mmdet.models.task_modules.prior_generators import YOLOAnchorGenerator
    from mmdet.registry import TASK_UTILS
    from mmengine.structures import InstanceData
    generator = YOLOAnchorGenerator(strides=list(strides), base_sizes=[list(level) for level in base_sizes])
    head = SimpleNamespace(num_levels=len(strides), prior_generator=generator)
    grid_assigner = TASK_UTILS.build(dict(assigner))
    step = max(strides)
    positives = boxes = 0
    for image in images:
        padded = [-(-side // step) * step for side in image.shape]
        featmap_sizes = [(padded[0] // stride, padded[1] // stride) for stride in strides]
        gt = torch.as_tensor(image.boxes, dtype=torch.float32)
        flags = YOLOV3Head.responsible_flags(head, featmap_sizes, gt, 'cpu')
        result = grid_assigner.assign(
            InstanceData(priors=torch.cat(generator.grid_priors(featmap_sizes, device='cpu')),
                         responsible_flags=torch.cat(flags)),
            InstanceData(bboxes=gt, labels=torch.zeros(len(gt), dtype=torch.long)))
        positives += int((result.gt_inds > 0).sum())
        boxes += len(gt)
    return positives / boxes if boxes else 0.0


def model_input_shape(cfg: Any) -> Size:
    """(width, height) of the one ``Resize`` in the config's test pipeline: the size the model sees."""
    from custom.engine.tta import TTAConfigError, resize_scale
    try:
        return resize_scale(innermost_dataset(cfg.test_dataloader.dataset).get('pipeline') or [])
    except TTAConfigError:
        raise AnchorError('the test pipeline has no single Resize with a scale: give --input-shape W H') from None


def _mmdet_optimizer_class() -> type:
    """mmdet's ``YOLOKMeansAnchorOptimizer``, loaded from the optimize_anchors.py that mmdet installs."""
    import mmdet
    script = Path(mmdet.__file__).parent / '.mim/tools/analysis_tools/optimize_anchors.py'  # pip and -e installs
    if not script.is_file():
        raise AnchorError(f'{script} not found: reinstall mmdet 3.3.0 from its wheel '
                          '(pip install --force-reinstall --no-deps mmdet==3.3.0)')
    spec = importlib.util.spec_from_file_location('mmdet_optimize_anchors', script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.YOLOKMeansAnchorOptimizer


def yolo_anchor_generator(cfg: Any) -> Mapping:
    """The config's ``anchor_generator``; :class:`AnchorError` unless it is a ``YOLOAnchorGenerator``."""
    generator = cfg.model.bbox_head.get('anchor_generator') or {}
    if generator.get('type') != 'YOLOAnchorGenerator':
        raise AnchorError(f'model.bbox_head.anchor_generator is {generator.get("type")}, not YOLOAnchorGenerator: '
                          'only YOLOv3 configs\' base_sizes are fitted (RetinaNet and SSD set anchors by scales '
                          'and ratios)')
    return generator


def training_dataset(cfg: Any) -> Any:
    """The config's training dataset (inside any wrapper such as ClassBalancedDataset), built by mmdet."""
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return DATASETS.build(innermost_dataset(cfg.train_dataloader.dataset))


def fit_yolo_anchors(cfg: Any, input_shape: Size | None = None, iters: int = 1000, seed: int = 0,
                     device: str = 'cpu', dataset: Any = None) -> FittedAnchors:
    """Fit the config's YOLO anchors to its training boxes by mmdet's k-means (seeded: same seed, same anchors);
    ``dataset``: the config's :func:`training_dataset` when already built."""
    generator = yolo_anchor_generator(cfg)
    import torch
    from mmengine.logging import MMLogger
    if dataset is None:
        dataset = training_dataset(cfg)
    shape = tuple(input_shape) if input_shape else model_input_shape(cfg)
    base_sizes = generator['base_sizes']
    torch.manual_seed(seed)  # k-means starts from randomly chosen boxes
    optimizer = _mmdet_optimizer_class()(
        dataset=dataset, input_shape=list(shape), logger=MMLogger.get_current_instance(), device=device,
        num_anchors=sum(len(level) for level in base_sizes), iters=iters)
    if len(optimizer.bbox_whs) == 0:
        raise AnchorError('the training split has no boxes to fit anchors to')
    grouped = group_by_level([tuple(map(float, wh)) for wh in optimizer.kmeans_anchors()], base_sizes)
    whs = optimizer.bbox_whs
    return FittedAnchors(
        base_sizes=grouped, mean_iou=mean_best_iou(whs, [wh for level in grouped for wh in level]),
        config_mean_iou=mean_best_iou(whs, [wh for level in base_sizes for wh in level]),
        num_boxes=len(whs), input_shape=(int(shape[0]), int(shape[1])))


@dataclass(frozen=True)
class PositivesCount:
    """Positive anchors a training box under the config's ``GridAssigner``, with its anchors and the fitted ones."""
    pos_iou_thr: float
    config_anchors: float
    fitted_anchors: float
    matching_thr: float     # the pos_iou_thr (0.05 steps up) giving the fitted anchors the count nearest config_anchors
    fitted_at_matching: float


def count_positives(cfg: Any, fitted: FittedAnchors, dataset: Any = None) -> PositivesCount | None:
    """How many anchors the config's assigner makes positive a box, with its anchors and with ``fitted``'s, at
    ``fitted.input_shape``; ``None`` when the config's assigner is not mmdet's ``GridAssigner`` (YOLOv3's)."""
    assigner = dict((cfg.model.get('train_cfg') or {}).get('assigner') or {})
    if assigner.get('type') != 'GridAssigner':
        return None
    if dataset is None:
        dataset = training_dataset(cfg)
    images = scaled_images(dataset, fitted.input_shape)
    generator = cfg.model.bbox_head.anchor_generator
    strides = [stride if isinstance(stride, int) else stride[0] for stride in generator['strides']]
    thr = float(assigner['pos_iou_thr'])
    config_count = positives_per_box(images, generator['base_sizes'], strides, assigner)
    counts = {thr: positives_per_box(images, fitted.base_sizes, strides, assigner)}
    tried = thr
    while counts[tried] > config_count and tried < 0.95:  # a higher threshold, fewer positives
        tried = round(tried + 0.05, 2)
        counts[tried] = positives_per_box(images, fitted.base_sizes, strides, {**assigner, 'pos_iou_thr': tried})
    matching = min(counts, key=lambda t: abs(counts[t] - config_count))
    return PositivesCount(pos_iou_thr=thr, config_anchors=config_count, fitted_anchors=counts[thr],
                          matching_thr=matching, fitted_at_matching=counts[matching])
