"""Test-time augmentation for ``tools/test.py --tta``: flips and scales merged by mmdet's ``DetTTAModel``.

:func:`use_tta` turns a test config into a TTA one, as mmdet's own ``tools/test.py --tta`` does:
``cfg.model`` becomes ``DetTTAModel(module=cfg.model)`` and the test dataset (inside any dataset
wrappers) gets a pipeline with one ``TestTimeAug`` step. Each image is predicted once per scale and
flip; the predictions, mapped back to the original image, are merged by class-wise NMS.

The pipeline is the config's ``tta_pipeline`` when it was made for this config's test scale (its
first scale is the test scale, as in mmdet's ``*_tta.py``); otherwise it is derived from the test
pipeline: the steps before ``Resize`` as they are, then ``TestTimeAug`` over the scales (the test
scale times the config's ``tta_ratios``, else :data:`DEFAULT_RATIOS`, rounded to multiples of
:data:`SIZE_MULTIPLE`) x (no flip, horizontal flip) x the remaining steps, with ``flip`` and
``flip_direction`` in ``PackDetInputs``' meta keys (``DetTTAModel`` needs them to flip boxes back). A
``Pad`` to a fixed size becomes a pad to square (square scales) or to the largest scale, so that every
scale fits.

The merging model is the config's ``tta_model``, else ``DetTTAModel`` with the detector's own NMS
IoU and ``max_per_img`` from ``model.test_cfg``; a config's ``tta_model`` may instead be this project's
``WBFDetTTAModel`` (:mod:`custom.models.wbf_tta`), which fuses the views by weighted boxes fusion.
Imports neither torch nor mmdet.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from custom.engine.config import innermost_dataset, step_type

# the test scale, ~1/1.2 of it and 1.2 x it: a modest range around the size the CPU recipes train at
# (mmdet's own RTMDet/RetinaNet TTA uses 0.5x and 1.5x; 1.2x costs 1.44x, 1.5x 2.25x a pass)
DEFAULT_RATIOS = (1.0, 0.83, 1.2)
SIZE_MULTIPLE = 32  # the backbones' output stride (YOLOv3 and RetinaNet pad inputs to it); scales are rounded to it
FLIP_KEYS = ('flip', 'flip_direction')
DEFAULT_NMS = {'type': 'nms', 'iou_threshold': 0.5}  # mmdet's tools/test.py default
DEFAULT_MAX_PER_IMG = 100
WBF_DEFAULT_IOU = 0.55  # mmdet's weighted_boxes_fusion iou_thr, which WBFDetTTAModel uses when tta_cfg.wbf has none
WBF_DEFAULT_CONF = 'avg'  # mmdet's weighted_boxes_fusion conf_type, likewise


class TTAConfigError(ValueError):
    """The config cannot be given test-time augmentation; the message says why and what to do."""


def tta_scales(scale: Sequence[int], ratios: Sequence[float]) -> list[tuple[int, int]]:
    """``scale`` (w, h) times each ratio, each side rounded to a multiple of :data:`SIZE_MULTIPLE`
    (at least one); ratio 1 keeps ``scale`` exactly. Repeated scales are kept once, in order."""
    out: list[tuple[int, int]] = []
    for ratio in ratios:
        if ratio <= 0:
            raise TTAConfigError(f'TTA scale ratio {ratio}: ratios must be positive (1 = the test scale)')
        size = (int(scale[0]), int(scale[1])) if ratio == 1 else tuple(
            max(SIZE_MULTIPLE, int(side * ratio / SIZE_MULTIPLE + 0.5) * SIZE_MULTIPLE) for side in scale)
        if size not in out:
            out.append(size)
    return out


def smallest_side(model: Mapping) -> int:
    """The smallest input side the detector ``model`` (a config dict) runs on: 257 for SSD300's VGG16, whose
    last two extra layers are unpadded 3x3 convolutions (from 256 px a 2x2 map reaches the last one), else 1."""
    backbone = model.get('backbone') or {}
    return 257 if step_type(backbone) == 'SSDVGG' and backbone.get('input_size', 300) == 300 else 1


def resize_scale(pipeline: Sequence[Mapping], source: str = 'the config') -> tuple[int, int]:
    """The ``scale`` (w, h) of the one ``Resize`` step of a test pipeline."""
    resizes = [s for s in pipeline if step_type(s) == 'Resize']
    if len(resizes) != 1 or not resizes[0].get('scale'):
        raise TTAConfigError(f'{source}: TTA scales derive from the test pipeline\'s one Resize(scale=...), '
                             f'found {len(resizes)} Resize steps; give the config a tta_pipeline')
    scale = resizes[0]['scale']
    return (int(scale), int(scale)) if isinstance(scale, (int, float)) else (int(scale[0]), int(scale[1]))


def with_flip_keys(step: Mapping) -> dict:
    """A copy of a ``PackDetInputs`` step whose ``meta_keys`` (when set) include ``flip`` and ``flip_direction``."""
    step = dict(step)
    if step_type(step) == 'PackDetInputs' and step.get('meta_keys') is not None:
        keys = tuple(step['meta_keys'])
        step['meta_keys'] = keys + tuple(k for k in FLIP_KEYS if k not in keys)
    return step


def flip_keyed(pipeline: Sequence[Mapping]) -> list[dict]:
    """A copy of a pipeline with :func:`with_flip_keys` applied to each step, inside ``TestTimeAug`` too."""
    return [{**s, 'transforms': [[with_flip_keys(o) for o in group] for group in s['transforms']]}
            if step_type(s) == 'TestTimeAug' else with_flip_keys(s) for s in copy.deepcopy(list(pipeline))]


def fitting_pad(step: Mapping, scales: Sequence[tuple[int, int]]) -> dict:
    """A copy of a ``Pad`` step that fits every scale: a fixed ``size`` becomes a pad to square (square
    scales; a keep-ratio resize fits in the square) or the largest scale; other steps are copied."""
    step = dict(step)
    if step_type(step) != 'Pad' or step.get('size') is None:
        return step
    del step['size']
    if all(w == h for w, h in scales):
        step['pad_to_square'] = True
    else:
        step['size'] = (max(w for w, _ in scales), max(h for _, h in scales))
    return step


def derive_tta_pipeline(pipeline: Sequence[Mapping], ratios: Sequence[float] = DEFAULT_RATIOS,
                        source: str = 'the config', min_side: int = 1) -> list[dict]:
    """A TTA pipeline from a test pipeline: its steps before ``Resize``, then ``TestTimeAug`` over
    the scales (:func:`tta_scales`, less those with a side under ``min_side``) x (no flip, horizontal
    flip) x each remaining step."""
    pipeline = [dict(copy.deepcopy(s)) for s in pipeline]
    scale = resize_scale(pipeline, source)
    at = next(i for i, s in enumerate(pipeline) if step_type(s) == 'Resize')
    resize = pipeline[at]
    scales = [s for s in tta_scales(scale, ratios) if min(s) >= min_side]
    if not scales:
        raise TTAConfigError(f'{source}: every TTA scale {tta_scales(scale, ratios)} has a side under {min_side} px, '
                             f'the smallest input the model takes: give larger ratios')
    transforms: list[list[dict]] = [
        [{**resize, 'scale': s} for s in scales],
        [{'type': 'RandomFlip', 'prob': 0.0}, {'type': 'RandomFlip', 'prob': 1.0, 'direction': 'horizontal'}]]
    transforms += [[with_flip_keys(fitting_pad(s, scales))] for s in pipeline[at + 1:]]
    return [*pipeline[:at], {'type': 'TestTimeAug', 'transforms': transforms}]


def tta_step(pipeline: Sequence[Mapping]) -> Mapping | None:
    """The ``TestTimeAug`` step of a pipeline, if it has one."""
    return next((s for s in pipeline if step_type(s) == 'TestTimeAug'), None)


def describe_tta(pipeline: Sequence[Mapping]) -> dict[str, list]:
    """``{'scales': [[w, h], ...], 'flips': [None | direction, ...]}`` of a TTA pipeline's ``TestTimeAug``."""
    step = tta_step(pipeline)
    options = [o for group in (step['transforms'] if step else []) for o in group]
    scales = [list(o['scale']) for o in options if step_type(o) == 'Resize' and o.get('scale')]
    flips = [o.get('direction', 'horizontal') if o.get('prob', 0) else None
             for o in options if step_type(o) == 'RandomFlip']
    return {'scales': scales, 'flips': flips}


def own_pipeline_fits(cfg: Any, scale: tuple[int, int]) -> bool:
    """Whether the config's ``tta_pipeline`` was made for test scale ``scale`` (its first scale)."""
    pipeline = cfg.get('tta_pipeline')
    scales = describe_tta(pipeline)['scales'] if pipeline else []
    return bool(scales) and tuple(scales[0]) == scale


def tta_model_cfg(cfg: Any) -> dict:
    """The config's ``tta_model``, else ``DetTTAModel`` merging with the detector's NMS and ``max_per_img``."""
    if cfg.get('tta_model'):
        return dict(copy.deepcopy(cfg.tta_model))
    test_cfg = cfg.model.get('test_cfg') or {}
    nms = test_cfg.get('nms') or DEFAULT_NMS
    return {'type': 'DetTTAModel',
            'tta_cfg': {'nms': {'type': nms.get('type', 'nms'), 'iou_threshold': nms.get('iou_threshold', 0.5)},
                        'max_per_img': test_cfg.get('max_per_img') or DEFAULT_MAX_PER_IMG}}


def use_tta(cfg: Any, ratios: Sequence[float] | None = None, source: str = 'the config') -> dict[str, Any]:
    """Make ``cfg`` (an mmengine ``Config``) test with TTA, in place; returns what was set up
    (for ``metrics_test.json``): pipeline origin, scales, flips and the merging settings.

    ``ratios`` (of the test scale; ``[1]``: flips only) always derives the pipeline; ``None`` uses the
    config's ``tta_pipeline`` when :func:`own_pipeline_fits`, else its ``tta_ratios``, else :data:`DEFAULT_RATIOS`.
    """
    from mmengine.config import ConfigDict
    if not cfg.get('test_dataloader') or not cfg.test_dataloader.get('dataset'):
        raise TTAConfigError(f'{source}: no test_dataloader.dataset to augment')
    dataset = innermost_dataset(cfg.test_dataloader.dataset)
    scale = resize_scale(dataset.pipeline, source)
    left_out: list[tuple[int, int]] = []
    if ratios is None and own_pipeline_fits(cfg, scale):
        pipeline, origin = flip_keyed(cfg.tta_pipeline), 'config tta_pipeline'
    else:
        origin = 'derived from the test pipeline'
        if ratios is None and cfg.get('tta_ratios'):
            ratios, origin = cfg.tta_ratios, 'config tta_ratios'
        ratios = DEFAULT_RATIOS if ratios is None else ratios
        pipeline = derive_tta_pipeline(dataset.pipeline, ratios, source, smallest_side(cfg.model))
        used = describe_tta(pipeline)['scales']
        left_out = [s for s in tta_scales(scale, ratios) if list(s) not in used]
    model = tta_model_cfg(cfg)
    # the Runner gives the wrapper the config's top-level data_preprocessor, which BaseTTAModel then puts in place
    # of the detector's own (e.g. ChannelsLastDetDataPreprocessor): the wrapper names the one the detector uses
    preprocessor = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')
    cfg.model = ConfigDict(**model, module=cfg.model, data_preprocessor=copy.deepcopy(preprocessor))
    dataset.pipeline = pipeline
    return {'pipeline': origin, 'test_scale': list(scale), **describe_tta(pipeline),
            'scales_too_small': [list(s) for s in left_out], 'merged_by': model.get('type'),
            'merge': copy.deepcopy(dict(model.get('tta_cfg') or {}))}


def tta_line(summary: Mapping[str, Any]) -> str:
    """One line saying what :func:`use_tta` set up (its returned ``summary``)."""
    merge = summary['merge']
    too_small = summary['scales_too_small']
    if summary.get('merged_by') == 'WBFDetTTAModel':
        wbf = merge.get('wbf') or {}
        how = f'fused by weighted boxes fusion (IoU {wbf.get("iou_thr", WBF_DEFAULT_IOU)}'
        if wbf.get('conf_type', WBF_DEFAULT_CONF) != WBF_DEFAULT_CONF:
            how += f', scores: {wbf["conf_type"]}'
    else:
        how = f'merged by class-wise NMS (IoU {(merge.get("nms") or {}).get("iou_threshold")}'
    return (f'test-time augmentation ({summary["pipeline"]}): scales {summary["scales"]} x flips {summary["flips"]}, '
            f'{how}, at most {merge.get("max_per_img", DEFAULT_MAX_PER_IMG)} boxes an image)'
            + (f'; left out {too_small}: under the smallest input the model takes' if too_small else ''))
