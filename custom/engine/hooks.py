"""A console progress bar for training: iterations done, ETA, epoch and loss, on one line."""
from __future__ import annotations

import sys
from typing import Any

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
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
