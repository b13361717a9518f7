"""What an exported ONNX file carries besides its graph: one JSON document in the model's ``metadata_props``
under :data:`KEY`, enough to run the file without the config or the checkpoint.

Keys (:data:`REQUIRED`): ``format`` (:data:`FORMAT`), ``model`` (model and head types, exporting config and
checkpoint), ``classes`` and ``palette``, ``input`` (the graph input's name), ``preprocess``
(:mod:`custom.deployment.preprocess`), ``head`` (``kind`` ``dense`` or ``yolov3``, ``outputs`` (output names by
group, one per level), ``priors`` (:mod:`custom.deployment.priors`), ``coder``, ``use_sigmoid_cls``,
``cls_out_channels``, ``num_classes``; for YOLOv3 ``num_attrib`` and ``strides``) and ``test_cfg``.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from custom.engine.config import step_type
from custom.inference.errors import SetupError

KEY = 'voc_detkit'
FORMAT = 'voc-detkit-onnx/1'
REQUIRED = ('format', 'model', 'classes', 'palette', 'input', 'preprocess', 'head', 'test_cfg')
PIPELINE_STEPS = ('LoadImageFromNDArray', 'Resize', 'Pad', 'PackDetInputs')
PREPROCESSORS = ('DetDataPreprocessor', 'ChannelsLastDetDataPreprocessor')


class OnnxModelError(SetupError):
    """An ONNX file that cannot be run here: unreadable, not exported by this project, or from another model."""


def plain(value: Any) -> Any:
    """``value`` with mmengine ``ConfigDict``s, tuples and numpy scalars turned into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, 'item') and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def preprocess_spec(cfg: Any, steps: list[dict], config_path: str) -> dict:
    """The ``preprocess`` mapping from the config's data preprocessor and inference pipeline
    (:func:`custom.inference.detector.inference_pipeline`); :class:`SetupError` for a step or preprocessor
    that has no numpy counterpart here."""
    spec: dict[str, Any] = {'resize': None, 'pad': None}
    for step in steps:
        kind = step_type(step)
        if kind not in PIPELINE_STEPS:
            raise SetupError(f'{config_path}: test pipeline step {kind} has no ONNX-side counterpart '
                             f'(supported: {", ".join(PIPELINE_STEPS)})')
        if kind == 'Resize':
            if step.get('scale') is None or step.get('interpolation', 'bilinear') != 'bilinear':
                raise SetupError(f'{config_path}: Resize {step} is not supported (a fixed scale, bilinear)')
            spec['resize'] = {'scale': plain(step['scale']), 'keep_ratio': bool(step.get('keep_ratio', False))}
        elif kind == 'Pad':
            if step.get('pad_to_square') or step.get('padding_mode', 'constant') != 'constant':
                raise SetupError(f'{config_path}: Pad {step} is not supported (constant padding to a size)')
            value = step.get('pad_val', 0)
            value = value.get('img', 0) if isinstance(value, Mapping) else value
            spec['pad'] = {'size': plain(step.get('size')), 'size_divisor': step.get('size_divisor'),
                           'pad_val': plain(value)}
    pre = cfg.model.get('data_preprocessor') or {}
    if step_type(pre) not in PREPROCESSORS or pre.get('batch_augments'):
        raise SetupError(f'{config_path}: data preprocessor {step_type(pre)} is not supported ({PREPROCESSORS})')
    spec.update(mean=plain(pre.get('mean', (0, 0, 0))), std=plain(pre.get('std', (1, 1, 1))),
                bgr_to_rgb=bool(pre.get('bgr_to_rgb', False) or pre.get('rgb_to_bgr', False)),
                pad_size_divisor=int(pre.get('pad_size_divisor', 1)), pad_value=float(pre.get('pad_value', 0)))
    return spec


def head_spec(head: Any, config_path: str) -> dict:
    """The ``head`` mapping of a built mmdet head (without ``outputs``); :class:`SetupError` for a head type
    that :mod:`custom.deployment.postprocess` does not reproduce."""
    from mmdet.models.dense_heads import AnchorHead, RTMDetHead, YOLOV3Head
    strides = [list(map(float, s)) for s in head.prior_generator.strides]
    if isinstance(head, RTMDetHead):
        return {'kind': 'dense', 'type': type(head).__name__, 'use_sigmoid_cls': bool(head.use_sigmoid_cls),
                'cls_out_channels': int(head.cls_out_channels), 'num_classes': int(head.num_classes),
                'priors': {'type': 'points', 'strides': strides, 'offset': float(head.prior_generator.offset)},
                'coder': {'type': 'distance', 'clip_border': bool(head.bbox_coder.clip_border)}}
    anchors = {'type': 'anchors', 'strides': strides,
               'base_anchors': [a.float().tolist() for a in head.prior_generator.base_anchors]}
    if isinstance(head, YOLOV3Head):
        return {'kind': 'yolov3', 'type': type(head).__name__, 'num_classes': int(head.num_classes),
                'num_attrib': int(head.num_attrib), 'strides': [float(s) for s in head.featmap_strides],
                'priors': anchors, 'coder': {'type': 'yolo'}}
    coder = head.bbox_coder
    if isinstance(head, AnchorHead) and type(coder).__name__ == 'DeltaXYWHBBoxCoder':
        return {'kind': 'dense', 'type': type(head).__name__, 'use_sigmoid_cls': bool(head.use_sigmoid_cls),
                'cls_out_channels': int(head.cls_out_channels), 'num_classes': int(head.num_classes),
                'priors': anchors,
                'coder': {'type': 'delta', 'means': plain(coder.means), 'stds': plain(coder.stds),
                          'wh_ratio_clip': 16 / 1000, 'clip_border': bool(coder.clip_border),
                          'add_ctr_clamp': bool(coder.add_ctr_clamp), 'ctr_clamp': float(coder.ctr_clamp)}}
    raise SetupError(f'{config_path}: no ONNX export for {type(head).__name__} with {type(coder).__name__} '
                     f'(supported: RTMDet, YOLOv3, SSD/SSDLite and RetinaNet heads)')


def parse(text: str | None, path: str) -> dict:
    """The metadata of the ONNX file ``path`` from its :data:`KEY` entry; :class:`OnnxModelError` when it is
    missing or incomplete."""
    fix = 'export it with tools/deployment/export_onnx.py CONFIG CHECKPOINT --out FILE'
    if not text:
        raise OnnxModelError(f'{path}: no {KEY!r} metadata: not exported by this project; {fix}')
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as err:
        raise OnnxModelError(f'{path}: {KEY!r} metadata is not JSON ({err}); {fix}') from None
    missing = [k for k in REQUIRED if k not in meta] if isinstance(meta, dict) else list(REQUIRED)
    if missing or meta.get('format') != FORMAT:
        raise OnnxModelError(f'{path}: metadata format {meta.get("format") if isinstance(meta, dict) else None!r}, '
                             f'missing {missing} (expected {FORMAT}); {fix}')
    if len(meta['classes']) != meta['head']['num_classes']:
        raise OnnxModelError(f'{path}: metadata names {len(meta["classes"])} classes but the head has '
                             f'num_classes={meta["head"]["num_classes"]}; {fix}')
    return meta


# This project's heads that change only how predictions are returned, not the network: an ONNX file
# exported from either name runs with a config naming the other.
SAME_NETWORK = {'ClippedYOLOV3Head': 'YOLOV3Head', 'FixedSSDHead': 'SSDHead'}


def network_type(name: str | None) -> str | None:
    """The mmdet head ``name`` computes the same raw outputs as (``name`` itself for mmdet's own heads)."""
    return SAME_NETWORK.get(name, name) if name else name


def check_against_config(meta: Mapping, path: str, cfg: Any, config_path: str) -> list[str]:
    """:class:`OnnxModelError` when the config's model is of another type or class count than the file's;
    notes (lines) for lesser differences such as class names."""
    from custom.engine.config import dataset_info
    from custom.engine.resume_check import find_num_classes
    expected = find_num_classes(cfg.model)
    problems = []
    if cfg.model.get('type') != meta['model'].get('type'):
        problems.append(f"model type: {path} {meta['model'].get('type')}, {config_path} {cfg.model.get('type')}")
    head = step_type(cfg.model.get('bbox_head') or {})
    if network_type(head) != network_type(meta['model'].get('head')):
        problems.append(f"head: {path} {meta['model'].get('head')}, {config_path} {head}")
    if expected is not None and expected != meta['head']['num_classes']:
        problems.append(f"num_classes: {path} {meta['head']['num_classes']} {meta['classes']}, "
                        f'{config_path} {expected}')
    if problems:
        raise OnnxModelError(f'{path} was exported from another model than {config_path}:\n  - '
                             + '\n  - '.join(problems) + '\n  pass the config it was exported from, or export '
                             f'again: tools/deployment/export_onnx.py {config_path} CHECKPOINT --out {path}')
    names = dataset_info(cfg, 'test')['classes']
    if names and tuple(names) != tuple(meta['classes']):
        return [f'class names from {path}: {list(meta["classes"])} (the config names {list(names)})']
    return []
