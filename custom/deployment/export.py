"""A detector's raw outputs (backbone, neck, head: per-level score and box maps, before decoding) as an ONNX
graph with the :mod:`custom.deployment.metadata` that runs it.

The model is built and loaded as :func:`custom.inference.detector.load_detector` does (a checkpoint that does
not fit the config is refused). The graph has one input ``input`` (N, 3, H, W), float32, normalised as the data
preprocessor does; the batch axis is dynamic, and H and W too when the test pipeline gives images of
varying size (a keep-ratio resize without a fixed pad size). Export uses torch.onnx's default exporter
(``torch.export``-based, ``dynamo=True``); ``dynamo=False`` selects the deprecated TorchScript one.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, NamedTuple

import numpy as np

from custom.deployment.metadata import FORMAT, KEY, head_spec, plain, preprocess_spec

OUTPUT_GROUPS = {'dense': ('cls_scores', 'bbox_preds'), 'yolov3': ('pred_maps',)}
OPSET = 18


class ExportSummary(NamedTuple):
    """An export's file, metadata, example input shape and the largest difference between the ONNX and
    PyTorch raw outputs on that input, relative to the largest output value of its map."""

    path: str
    metadata: dict
    example_shape: tuple[int, ...]
    max_rel_diff: float


def example_shape(preprocess: Mapping[str, Any], batch: int = 2) -> tuple[int, int, int, int]:
    """The (N, 3, H, W) of an example input: the fixed size when the pipeline gives one, else the resize
    scale (short side as height), rounded up to the size divisors."""
    pad, resize = preprocess.get('pad') or {}, preprocess.get('resize') or {}
    if pad.get('size'):
        width, height = pad['size']
    elif resize:
        width, height = max(resize['scale']), min(resize['scale'])
    else:
        width, height = 320, 320
    divisor = max(int(preprocess.get('pad_size_divisor') or 1), int(pad.get('size_divisor') or 1))
    return batch, 3, math.ceil(height / divisor) * divisor, math.ceil(width / divisor) * divisor


def fixed_size(preprocess: Mapping[str, Any]) -> bool:
    """Whether every image leaves the pipeline at one size (a fixed pad size, or a resize ignoring ratio)."""
    resize = preprocess.get('resize') or {}
    return bool((preprocess.get('pad') or {}).get('size')) or (bool(resize) and not resize.get('keep_ratio'))


def raw_module(model: Any) -> Any:
    """A ``torch.nn.Module`` whose forward maps the normalised batch to the head's outputs, flattened
    (group by group, level by level)."""
    import torch

    class RawOutputs(torch.nn.Module):
        def __init__(self, detector: Any) -> None:
            super().__init__()
            self.detector = detector

        def forward(self, inputs: torch.Tensor) -> tuple:
            groups = self.detector.bbox_head(self.detector.extract_feat(inputs))
            return tuple(level for group in groups for level in group)

    return RawOutputs(model).eval()


def export_onnx(config: str, checkpoint: str, out: str, cfg_options: Mapping | None = None,
                dynamo: bool = True, opset: int = OPSET) -> ExportSummary:
    """Export ``config``'s model with ``checkpoint``'s weights to ``out`` (see the module docstring).

    Raises what :func:`custom.inference.detector.load_detector` raises, and
    :class:`custom.inference.errors.SetupError` for a model or pipeline that cannot be exported.
    """
    import onnx
    import torch

    from custom.engine.config import read_config
    from custom.inference.detector import inference_pipeline, load_detector
    detector = load_detector(config, checkpoint, 'cpu', cfg_options)
    cfg = read_config(config, cfg_options)
    preprocess = preprocess_spec(cfg, inference_pipeline(cfg), config)
    head = head_spec(detector.model.bbox_head, config)
    module = raw_module(detector.model)
    shape = example_shape(preprocess)
    example = torch.from_numpy(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    with torch.no_grad():
        expected = module(example)
    levels = len(expected) // len(OUTPUT_GROUPS[head['kind']])
    head['outputs'] = {group: [f'{group}_{level}' for level in range(levels)] for group in OUTPUT_GROUPS[head['kind']]}
    names = [name for group in head['outputs'].values() for name in group]
    dynamic = fixed_size(preprocess) is False
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if dynamo:
        axes = {0: torch.export.Dim('batch', max=1024)}
        if dynamic:
            axes.update({2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC})
        torch.onnx.export(module, (example,), out, input_names=['input'], output_names=names, opset_version=opset,
                          dynamo=True, dynamic_shapes=(axes,), verbose=False)
    else:
        axes = {0: 'batch', 2: 'height', 3: 'width'} if dynamic else {0: 'batch'}
        torch.onnx.export(module, (example,), out, input_names=['input'], output_names=names, opset_version=opset,
                          dynamo=False, dynamic_axes={'input': axes, **{n: {0: 'batch'} for n in names}})
    metadata = {'format': FORMAT,
                'model': {'type': cfg.model.get('type'), 'head': head['type'], 'config': config,
                          'checkpoint': checkpoint, 'exporter': 'dynamo' if dynamo else 'torchscript'},
                'classes': list(detector.classes.classes), 'palette': plain(detector.classes.palette),
                'input': 'input', 'preprocess': preprocess, 'head': head,
                'test_cfg': plain(detector.model.bbox_head.test_cfg)}
    proto = onnx.load(out)
    onnx.helper.set_model_props(proto, {KEY: json.dumps(metadata)})
    onnx.save(proto, out)
    import onnxruntime
    session = onnxruntime.InferenceSession(out, providers=['CPUExecutionProvider'])
    got = session.run(names, {'input': example.numpy()})
    diff = max(relative_difference(g, e.numpy()) for g, e in zip(got, expected))
    return ExportSummary(out, metadata, shape, diff)


def relative_difference(got: np.ndarray, expected: np.ndarray) -> float:
    """Largest ``|got - expected|`` over the largest finite ``|expected|``, in float64; entries equal on both
    sides (also the same infinity, or NaN on both, which untrained models can overflow to) count as 0."""
    g, e = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    same = (g == e) | (np.isnan(g) & np.isnan(e))
    with np.errstate(invalid='ignore', over='ignore'):
        diff = np.where(same, 0.0, np.abs(g - e))
    finite = np.abs(e[np.isfinite(e)])
    return float(diff.max(initial=0.0) / max(float(finite.max(initial=0.0)), 1e-6))
