"""How far one training step of a detector is from a float64 reference in each memory layout.

Channels-last (NHWC) is a layout, not a different computation: in float64 a step gives the same
outputs and gradients in either layout. In float32 the layouts run different kernels, so they
round differently; this module measures by how much, against the float64 NCHW step of the same
weights and images, so that a layout's effect on training can be told from a bug (a bug moves
the outputs far beyond float32 rounding, and shows up in float64 too). The step is a
training-mode forward (batch-norm batch statistics) and the backward of a fixed random linear
function of the head outputs, so no assigner or loss is involved. Used by
``tools/analysis_tools/layout_check.py``; measurements: docs/cpu_training.md.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

LAYOUTS = ('nchw', 'nhwc')


@dataclass(frozen=True)
class LayoutError:
    """One layout's step against the float64 reference (relative errors, 0 = identical).

    ``forward``: largest absolute output difference over the largest absolute reference output;
    ``gradient``: L2 norm of all parameters' gradient differences over the reference's norm;
    ``worst``: the parameters with the largest relative L2 gradient error, largest first.
    """
    forward: float
    gradient: float
    worst: list[tuple[str, float]] = field(default_factory=list)


def _memory_format(layout: str) -> Any:
    import torch
    if layout not in LAYOUTS:
        raise ValueError(f'layout {layout!r}: expected one of {LAYOUTS}')
    return torch.channels_last if layout == 'nhwc' else torch.contiguous_format


def _flat_outputs(outputs: Any) -> list:
    import torch
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for item in outputs for t in _flat_outputs(item)]


def training_step(model: Any, images: Any, layout: str, seed: int = 0) -> tuple[list, dict[str, Any]]:
    """Outputs and parameter gradients of one training-mode step of a copy of ``model``.

    ``images`` (N, 3, H, W) go in as ``layout`` ('nchw' or 'nhwc'), in ``images``' dtype (the
    copy is cast to it). The loss is the sum of the head outputs weighted by normal noise drawn
    from ``seed``, the same for every layout and dtype. ``model`` itself is left untouched.
    """
    import torch
    model = copy.deepcopy(model).to(images.dtype).train()
    model.zero_grad()
    outputs = _flat_outputs(model(images.contiguous(memory_format=_memory_format(layout)), mode='tensor'))
    noise = torch.Generator().manual_seed(seed)
    total = sum((t * torch.randn(t.shape, generator=noise).to(t.dtype)).sum() for t in outputs)
    total.backward()
    grads = {n: p.grad.detach().double() for n, p in model.named_parameters() if p.grad is not None}
    return [t.detach().double() for t in outputs], grads


def compare_layouts(model: Any, images: Any, seed: int = 0, top: int = 5) -> dict[str, LayoutError]:
    """Each layout's float32 step (``images`` cast to float32) against the float64 NCHW step."""
    import torch
    ref_out, ref_grad = training_step(model, images.double(), 'nchw', seed)
    ref_norm = torch.sqrt(sum(g.pow(2).sum() for g in ref_grad.values()))
    report = {}
    for layout in LAYOUTS:
        out, grad = training_step(model, images.float(), layout, seed)
        forward = max(float((o - r).abs().max() / r.abs().max().clamp_min(1e-30)) for o, r in zip(out, ref_out))
        diff = torch.sqrt(sum((grad[n] - g).pow(2).sum() for n, g in ref_grad.items()))
        per_param = sorted(((n, float((grad[n] - g).norm() / g.norm().clamp_min(1e-30))) for n, g in ref_grad.items()
                            if float(g.norm()) > 1e-12 * float(ref_norm)), key=lambda item: -item[1])
        report[layout] = LayoutError(forward, float(diff / ref_norm.clamp_min(1e-30)), per_param[:top])
    return report
