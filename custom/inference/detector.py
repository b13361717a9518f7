"""A detector from a config and a checkpoint, without a Runner, and its predictions on decoded images.

The model is built from the config (its ``custom_imports`` register this project's parts), the
checkpoint is read with the safe loader (:func:`custom.engine.checkpoint.load_local_checkpoint`),
checked against the model (:mod:`custom.inference.checkpoint_fit`) and loaded strictly. Images go
through the config's test pipeline, its loader replaced by mmdet's ``LoadImageFromNDArray`` and
``LoadAnnotations`` left out, as ``mmdet.apis.inference_detector`` does; a batch is one
``model.test_step``.

Boxes come back as mmdet predicts them: ``(x1, y1, x2, y2)`` in 0-based continuous pixels of the
image as decoded (a box covering the whole image is ``(0, 0, W, H)``), clipped to the image here.
"""
from __future__ import annotations

import os.path as osp
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from custom.engine.config import dataset_info, read_config
from custom.engine.resume_check import find_num_classes
from custom.inference.checkpoint_fit import ClassInfo, check_fit, class_info, class_note, state_dict_of
from custom.inference.errors import SetupError

DROPPED_STEPS = ('LoadAnnotations', 'mmdet.LoadAnnotations')


class Detections(NamedTuple):
    """The boxes of one image: ``boxes`` (N, 4) float ``x1, y1, x2, y2`` (see the module docstring),
    ``scores`` (N,) and ``labels`` (N,) indexing the class names."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


def kept_detections(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, image: np.ndarray,
                    score_thr: float) -> Detections:
    """The boxes scoring at least ``score_thr``, clipped to ``image`` (its height and width), as
    :class:`Detections` of ``float64`` boxes and scores and ``int64`` labels."""
    keep = scores >= score_thr
    kept = boxes[keep].reshape(-1, 4).astype(np.float64)
    height, width = image.shape[:2]
    kept[:, 0::2] = kept[:, 0::2].clip(0, width)
    kept[:, 1::2] = kept[:, 1::2].clip(0, height)
    return Detections(kept, scores[keep].astype(np.float64), labels[keep].astype(np.int64))


def lower_score_thr(node: Any, score_thr: float) -> None:
    """Lower every ``score_thr`` of a model's ``test_cfg`` (nested: ``rcnn.score_thr``) to ``score_thr``:
    the model's own cut would otherwise hide boxes that ``--score-thr`` asks for."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == 'score_thr' and isinstance(value, (int, float)) and value > score_thr:
                node[key] = score_thr
            else:
                lower_score_thr(value, score_thr)


def inference_pipeline(cfg: Any) -> list[dict]:
    """The config's test pipeline for decoded images: the loader becomes ``mmdet.LoadImageFromNDArray``,
    ``LoadAnnotations`` is left out."""
    from mmdet.utils import get_test_pipeline_cfg
    steps = [dict(step) for step in get_test_pipeline_cfg(cfg) if step.get('type') not in DROPPED_STEPS]
    loaders = [i for i, step in enumerate(steps) if 'LoadImageFrom' in str(step.get('type'))]
    if not loaders:
        raise SetupError(f'the test pipeline has no LoadImageFromFile step: {steps}')
    steps[loaders[0]] = dict(type='mmdet.LoadImageFromNDArray')
    return steps


def check_device(device: str) -> None:
    """:class:`SetupError` when ``device`` names a CUDA device that this machine does not have."""
    import torch
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise SetupError(f'--device {device}: no CUDA device here (torch.cuda.is_available() is False); '
                         f'use --device cpu')


class Detector:
    """A loaded detector (:func:`load_detector`): the model in eval mode, its test pipeline and its classes."""

    def __init__(self, model: Any, pipeline: Any, classes: ClassInfo, notes: list[str]) -> None:
        self.model, self.pipeline, self.classes, self.notes = model, pipeline, classes, notes

    def predict(self, images: Sequence[np.ndarray], score_thr: float) -> list[Detections]:
        """The boxes scoring at least ``score_thr`` on each BGR ``uint8`` image, in one forward pass."""
        import torch
        data = [self.pipeline({'img': image, 'img_id': i}) for i, image in enumerate(images)]
        batch = {'inputs': [d['inputs'] for d in data], 'data_samples': [d['data_samples'] for d in data]}
        with torch.no_grad():
            results = self.model.test_step(batch)
        return [kept_detections(result.pred_instances.bboxes.float().cpu().numpy(),
                                result.pred_instances.scores.float().cpu().numpy(),
                                result.pred_instances.labels.cpu().numpy(), image, score_thr)
                for result, image in zip(results, images)]


def load_detector(config: str, checkpoint: str, device: str = 'cpu', cfg_options: Mapping | None = None,
                  score_thr: float | None = None) -> Detector:
    """Build ``config``'s model, load ``checkpoint`` into it and put it on ``device`` in eval mode.

    ``score_thr`` lowers the model's own test score cut (:func:`lower_score_thr`). Raises
    ``FileNotFoundError`` for a missing file, :class:`custom.engine.checkpoint.CheckpointError` for a file
    that is no checkpoint, :class:`custom.inference.errors.CheckpointMismatchError` when it was trained
    with another model or dataset, :class:`custom.inference.errors.SetupError` for missing class names, a
    missing CUDA device or a test pipeline without an image loader.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'{checkpoint}: no such checkpoint file')
    cfg = read_config(config, cfg_options)
    check_device(device)
    from mmcv.transforms import Compose
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.model import revert_sync_batchnorm

    from custom.engine.checkpoint import load_local_checkpoint
    register_all_modules(init_default_scope=True)
    if score_thr is not None:
        lower_score_thr(cfg.model.get('test_cfg'), score_thr)
    model = MODELS.build(cfg.model)
    loaded = load_local_checkpoint(checkpoint, map_location='cpu')
    check_fit(loaded, {k: tuple(v.shape) for k, v in model.state_dict().items()}, cfg.model, checkpoint, config)
    model.load_state_dict(state_dict_of(loaded), strict=True)
    classes = class_info(loaded.get('meta') or {}, cfg, find_num_classes(cfg.model), checkpoint, config)
    note = class_note(classes, dataset_info(cfg, 'test')['classes'])
    model = revert_sync_batchnorm(model).to(device).eval()
    return Detector(model, Compose(inference_pipeline(cfg)), classes, [note] if note else [])
