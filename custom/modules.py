"""Everything this project registers with MMDetection/MMEngine, imported by configs.

    custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)
"""
from custom import checkpoint  # noqa: F401  (torch>=2.6 safe loading of mmengine checkpoints)
from custom.hooks import ProgressBarHook  # noqa: F401
from custom.models import ChannelsLastDetDataPreprocessor, FixedSSDHead  # noqa: F401
from custom.optim_wrapper import CPUBf16OptimWrapper  # noqa: F401

__all__ = ['ChannelsLastDetDataPreprocessor', 'CPUBf16OptimWrapper', 'FixedSSDHead', 'ProgressBarHook']
