"""OptimWrapper that trains under bfloat16 autocast on CPUs with native bf16 instructions.

mmengine's ``AmpOptimWrapper`` refuses to run without a GPU. On a CPU with AVX512-BF16 or AMX,
oneDNN's bf16 convolutions are faster than fp32 ones (measurements: docs/cpu_training.md). Weights, gradients,
optimizer state and checkpoints stay fp32; torch's autocast computes convolutions and matrix
products in bf16 (the normalisations and activations after them then run on bf16 tensors) and
losses in fp32 (its CPU policy); bf16 has fp32's exponent range, so no loss scaling is needed.
Validation and testing are not affected (they do not enter ``optim_context``).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX); elsewhere bf16 is emulated."""
    cpu = getattr(torch, 'cpu', None)
    checks = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


@OPTIM_WRAPPERS.register_module()
class CPUBf16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward and loss run under ``torch.autocast('cpu', torch.bfloat16)``.

    Args:
        enabled: ``True`` always on CPU, ``False`` never (plain ``OptimWrapper``), ``None``
            (default) only when this CPU has native bf16 (``cpu_has_native_bf16``): emulated bf16
            is slower than fp32. Models on a GPU always train as with ``OptimWrapper`` (use
            ``--amp`` there).
        **kwargs: as for ``OptimWrapper`` (``optimizer``, ``clip_grad``, ...).
    """

    def __init__(self, *, enabled: bool | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.enabled = cpu_has_native_bf16() if enabled is None else bool(enabled)

    def autocasts(self, model: torch.nn.Module) -> bool:
        """Whether ``optim_context(model)`` enters bf16 autocast."""
        param = next(model.parameters(), None)
        return self.enabled and (param is None or param.device.type == 'cpu')

    @contextmanager
    def optim_context(self, model: torch.nn.Module) -> Iterator[None]:
        with super().optim_context(model):
            if self.autocasts(model):
                with torch.autocast('cpu', dtype=torch.bfloat16):
                    yield
            else:
                yield
