"""torch>=2.6 weights_only loading of mmengine checkpoints through custom.engine.checkpoint."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import custom.modules  # noqa: F401  (registers the loader, as configs do through custom_imports)
from custom.engine.checkpoint import load_local_checkpoint


def _resume_like_checkpoint(path):
    """What mmengine's Runner.save_checkpoint stores: message hub buffers and numpy values."""
    hub = MessageHub.get_instance('test_checkpoint')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
    hub.update_info('best_score', np.float64(0.75))
    torch.save({'meta': {'epoch': 2, 'iter': 8}, 'state_dict': {'w': torch.ones(2)},
                'message_hub': hub.state_dict(), 'optimizer': {'state': {}, 'param_groups': []}}, path)


def test_plain_torch_load_refuses_mmengine_checkpoint(tmp_path):
    path = tmp_path / 'epoch_2.pth'
    _resume_like_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(path)  # the failure users meet with mmengine 0.10.7 on torch>=2.6


def test_project_loader_reads_it_with_weights_only(tmp_path):
    path = tmp_path / 'epoch_2.pth'
    _resume_like_checkpoint(path)
    ckpt = _load_checkpoint(str(path), map_location='cpu')  # mmengine's own entry point (resume)
    assert ckpt['meta'] == {'epoch': 2, 'iter': 8}
    hub = MessageHub.get_instance('restored')
    hub.load_state_dict(ckpt['message_hub'])
    assert hub.get_scalar('train/loss').current() == pytest.approx(1 / 3)
    assert hub.get_info('best_score') == 0.75
    assert CheckpointLoader._schemes[''] is load_local_checkpoint


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_untrusted_pickle_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _Evil()}, path)
    pattern = r'(?s)evil\.pth: refused to unpickle .*posix\.system.*SAFE_GLOBALS'
    with pytest.raises(pickle.UnpicklingError, match=pattern):
        load_local_checkpoint(str(path))


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth can not be found'):
        load_local_checkpoint(str(tmp_path / 'nope.pth'))


class _Sneaky:
    """Pickles as getattr(HistoryBuffer, '__init__'), a way towards its module's globals."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_methods(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': _Sneaky()}, path)
    pattern = r"(?s)sneaky\.pth: refused.*getattr\(.*HistoryBuffer'>, '__init__'\) is not allowed"
    with pytest.raises(pickle.UnpicklingError, match=pattern):
        load_local_checkpoint(str(path))
