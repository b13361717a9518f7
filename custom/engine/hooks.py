"""Training hooks: a console progress bar (iterations, ETA, epoch, loss on one line), the head
re-initialisation of a fine-tuning run (:class:`PretrainedHeadHook`) and a training-scale switch
(:class:`TrainScaleSwitchHook`)."""
from __future__ import annotations

import sys
from typing import Any

from mmengine.dist import is_main_process
from mmengine.logging import print_log
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """A tqdm bar over all training iterations (resumed runs start where they left off).

    ``enabled=None`` shows it only when stderr is a terminal, so log files and CI output stay
    free of carriage returns; mmengine's log lines (with their own ETA) are unchanged.
    """

    priority = 'VERY_LOW'

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def before_train(self, runner: Any) -> None:
        enabled = sys.stderr.isatty() if self.enabled is None else self.enabled
        if enabled and is_main_process():
            from tqdm import tqdm
            self.bar = tqdm(total=runner.max_iters, initial=runner.iter, desc='train', unit='it',
                            dynamic_ncols=True, leave=True)

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if self.bar is None:
            return
        postfix = {'epoch': f'{runner.epoch + 1}/{runner.max_epochs}'}
        if isinstance(outputs, dict) and 'loss' in outputs:
            postfix['loss'] = f"{float(outputs['loss']):.3f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def after_train(self, runner: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@HOOKS.register_module()
class PretrainedHeadHook(Hook):
    """Fine-tuning from another dataset's detector: layers whose shape differs from the checkpoint's
    (the class-dependent head, e.g. COCO's 80 classes against 3) keep this model's fresh
    initialisation, listed in one log line instead of MMEngine's size-mismatch warning per tensor.

    Added by the train entry point for ``load_from`` without resume. Runs before EMAHook
    (priority), which then copies the same weights into its averaged model.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        own = model.state_dict()
        reinit = [key for key, value in state.items()
                  if key in own and hasattr(value, 'shape') and tuple(value.shape) != tuple(own[key].shape)]
        for key in reinit:
            state[key] = own[key].detach().clone()
        loaded = sum(key in state for key in own) - len(reinit)
        meta = checkpoint.get('meta') or {}
        classes = (meta.get('dataset_meta') or {}).get('classes') or meta.get('CLASSES')
        origin = f' (checkpoint trained on {len(classes)} classes)' if classes else ''
        print_log(f'pretrained weights: {loaded} of {len(own)} tensors loaded; re-initialised for this '
                  f'dataset{origin}: {", ".join(reinit) if reinit else "none"}', logger='current')


@HOOKS.register_module()
class TrainScaleSwitchHook(Hook):
    """Progressive resizing: from epoch ``switch_epoch`` (0-based, so 15 = the 16th epoch) on, the
    training pipeline's first resize transform (``RandomResize`` or ``Resize``) uses ``scale``.

    The pipeline is found through dataset wrappers (``ClassBalancedDataset``, ``RepeatDataset``: their
    ``dataset``), which mmdet's ``PipelineSwitchHook`` does not look into. Persistent data-loading
    workers are restarted so that they copy the new scale. A run resumed after the switch switches
    again at its first epoch.
    """

    priority = 'NORMAL'

    def __init__(self, switch_epoch: int, scale: Any) -> None:
        if switch_epoch < 1:
            raise ValueError(f'TrainScaleSwitchHook: switch_epoch must be >= 1, got {switch_epoch}; '
                             'set the scale in the training pipeline instead')
        self.switch_epoch = switch_epoch
        self.scale = [tuple(s) for s in scale] if isinstance(scale[0], (list, tuple)) else tuple(scale)
        self._switched = False

    @staticmethod
    def resize_transform(dataset: Any) -> Any:
        """The first transform with a ``scale`` attribute and 'Resize' in its class name in the
        innermost dataset's pipeline; ValueError naming the dataset when there is none."""
        while not hasattr(dataset, 'pipeline') and hasattr(dataset, 'dataset'):
            dataset = dataset.dataset
        for transform in getattr(getattr(dataset, 'pipeline', None), 'transforms', []):
            if 'Resize' in type(transform).__name__ and hasattr(transform, 'scale'):
                return transform
        raise ValueError(f'TrainScaleSwitchHook: no Resize or RandomResize in the training pipeline of '
                         f'{type(dataset).__name__}; add one or remove the hook from custom_hooks')

    def before_train_epoch(self, runner: Any) -> None:
        if self._switched or runner.epoch < self.switch_epoch:
            return
        loader = runner.train_dataloader
        transform = self.resize_transform(loader.dataset)
        print_log(f'training scale from epoch {runner.epoch + 1}: {transform.scale} -> {self.scale}',
                  logger='current')
        transform.scale = self.scale
        if getattr(loader, 'persistent_workers', False):  # torch allows it only with num_workers > 0
            loader._iterator = None  # torch's DataLoader starts new workers, which copy the dataset
        self._switched = True
