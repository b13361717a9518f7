"""Progressive resizing: TrainScaleSwitchHook changes the training scale inside dataset wrappers,
also in persistent data-loading workers, and on a resumed run."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from mmcv.transforms import RandomResize
from mmengine.dataset import BaseDataset, RepeatDataset
from torch.utils.data import DataLoader

from custom.engine.hooks import TrainScaleSwitchHook


def _width(results: dict) -> int:
    return int(results['img'].shape[1])


class _Images(BaseDataset):
    """Four 200 x 100 black images."""

    def load_data_list(self) -> list[dict]:
        return [dict(img=np.zeros((100, 200, 3), np.uint8)) for _ in range(4)]


def _dataset(*transforms) -> RepeatDataset:
    return RepeatDataset(_Images(pipeline=[*transforms, _width]), times=2)


def _runner(loader: DataLoader, epoch: int) -> SimpleNamespace:
    return SimpleNamespace(epoch=epoch, train_dataloader=loader)


def _widths(loader: DataLoader) -> list[int]:
    return [int(width) for batch in loader for width in batch]


def test_persistent_workers_train_at_the_new_scale_from_the_switch_epoch():
    # keep_ratio: a 200 x 100 image fits a (50..60)-square at width 50..60, a (200..240)-square at 200..240
    resize = RandomResize(scale=[(50, 50), (60, 60)], keep_ratio=True)
    loader = DataLoader(_dataset(resize), batch_size=2, num_workers=2, persistent_workers=True)
    hook = TrainScaleSwitchHook(switch_epoch=2, scale=[[200, 200], [240, 240]])
    for epoch in (0, 1):
        hook.before_train_epoch(_runner(loader, epoch))
        widths = _widths(loader)
        assert len(widths) == 8 and all(50 <= w <= 60 for w in widths), (epoch, widths)
    hook.before_train_epoch(_runner(loader, 2))
    assert resize.scale == [(200, 200), (240, 240)]
    for _ in (2, 3):  # the workers started for epoch 2 keep the new scale
        widths = _widths(loader)
        assert len(widths) == 8 and all(200 <= w <= 240 for w in widths), widths


def test_a_run_resumed_after_the_switch_epoch_switches_at_its_first_epoch():
    resize = RandomResize(scale=[(50, 50), (60, 60)], keep_ratio=True)
    loader = DataLoader(_dataset(resize), batch_size=4, num_workers=0)
    hook = TrainScaleSwitchHook(switch_epoch=15, scale=[(200, 200), (240, 240)])
    hook.before_train_epoch(_runner(loader, 21))
    assert all(200 <= w <= 240 for w in _widths(loader))


def test_no_resize_in_the_pipeline_names_the_fix_and_changes_nothing():
    loader = DataLoader(_dataset(), batch_size=4, num_workers=0)
    hook = TrainScaleSwitchHook(switch_epoch=1, scale=[(200, 200), (240, 240)])
    hook.before_train_epoch(_runner(loader, 0))  # before the switch epoch: nothing is looked up
    with pytest.raises(ValueError, match=r'no Resize or RandomResize in the training pipeline of _Images; '
                                         r'add one or remove the hook from custom_hooks'):
        hook.before_train_epoch(_runner(loader, 1))
    assert _widths(loader) == [200] * 8


def test_switch_epoch_zero_is_refused_with_the_alternative():
    with pytest.raises(ValueError, match='switch_epoch must be >= 1, got 0; set the scale in the training pipeline'):
        TrainScaleSwitchHook(switch_epoch=0, scale=[(320, 320), (416, 416)])
