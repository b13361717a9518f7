"""DetDataPreprocessor that hands the network channels-last (NHWC) images on CPU.

PyTorch's CPU convolutions (oneDNN) run faster on channels-last tensors, and a convolution
whose input is channels-last returns channels-last, so converting the batch once makes the
whole network, its backward pass included, run in that layout (measurements:
docs/cpu_training.md). Values are those of ``DetDataPreprocessor``; only the memory layout
differs. The YOLOv3, SSDLite and RTMDet CPU recipes use it.
"""
from __future__ import annotations

import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS


@MODELS.register_module()
class ChannelsLastDetDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` whose 4-D ``inputs`` come out in ``torch.channels_last`` layout.

    Args:
        channels_last: ``True`` always, ``False`` never (plain ``DetDataPreprocessor``),
            ``None`` (default) only for CPU tensors: on GPUs the gain depends on the card and
            on mixed precision, so GPU runs keep the layout mmdet's own configs use.
        *args, **kwargs: as for ``DetDataPreprocessor``.
    """

    def __init__(self, *args, channels_last: bool | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channels_last = channels_last

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor) and inputs.dim() == 4 and self._wanted(inputs):
            data['inputs'] = inputs.contiguous(memory_format=torch.channels_last)
        return data

    def _wanted(self, inputs: torch.Tensor) -> bool:
        if self.channels_last is None:
            return inputs.device.type == 'cpu'
        return bool(self.channels_last)
