"""A checkpoint of a config's model with seeded random weights, for exports and timings without training."""
from __future__ import annotations

from typing import Mapping


def seeded_checkpoint(config: str, path: str, seed: int = 0, cfg_options: Mapping | None = None) -> str:
    """Build ``config``'s model with ``torch.manual_seed(seed)`` (no pretrained weights loaded), save its state
    dict to ``path`` and return ``path``. RTMDet's regression biases are set to 2 so that its boxes have a
    size."""
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from custom.engine.config import read_config
    register_all_modules()
    torch.manual_seed(seed)
    model = MODELS.build(read_config(config, cfg_options).model)
    for conv in getattr(model.bbox_head, 'rtm_reg', []):
        torch.nn.init.constant_(conv.bias, 2.0)
    torch.save({'state_dict': model.state_dict()}, path)
    return path
