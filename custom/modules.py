"""Everything this project registers with MMDetection/MMEngine, imported by configs.

    custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

Importing it registers the hooks, the models' parts, the data transforms and the optimizer wrapper (their
``register_module`` decorators) and switches mmengine's local checkpoint I/O to the safe,
atomic versions of :func:`custom.engine.checkpoint.register_checkpoint_io`.
"""
from custom.datasets.copy_paste import InImageCopyPaste
from custom.engine.checkpoint import register_checkpoint_io
from custom.engine.hooks import PretrainedHeadHook, ProgressBarHook, TrainScaleSwitchHook
from custom.engine.optim_wrapper import CPUBf16OptimWrapper
from custom.models import ChannelsLastDetDataPreprocessor, ClippedYOLOV3Head, FixedSSDHead, WBFDetTTAModel

register_checkpoint_io()

__all__ = ['ChannelsLastDetDataPreprocessor', 'ClippedYOLOV3Head', 'CPUBf16OptimWrapper', 'FixedSSDHead',
           'InImageCopyPaste', 'PretrainedHeadHook', 'ProgressBarHook', 'TrainScaleSwitchHook',
           'WBFDetTTAModel']
