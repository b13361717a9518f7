"""A real process SIGKILLed while it writes a checkpoint: resume passes over the remains, the previous one loads."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from conftest import REPO

CHILD = textwrap.dedent('''
    import sys, time
    import torch
    from mmengine.runner.checkpoint import save_checkpoint

    work, atomic = sys.argv[1], sys.argv[2] == 'atomic'
    if atomic:
        import custom.modules  # noqa: F401  the project's AtomicLocalBackend, as configs register it
        import custom.engine.checkpoint_files as writer
    else:
        import mmengine.fileio.backends.local_backend as writer  # mmengine's plain backend

    def checkpoint(epoch):
        torch.manual_seed(epoch)
        return {'meta': {'epoch': epoch, 'iter': 8 * epoch},
                'state_dict': {'w': torch.randn(256, 1024), 'b': torch.randn(7)},
                'optimizer': {'state': {0: {'step': torch.tensor(8.0 * epoch), 'exp_avg': torch.randn(7)}},
                              'param_groups': [{'lr': 0.001, 'params': [0]}]}}

    save_checkpoint(checkpoint(1), f'{work}/epoch_1.pth')
    if atomic:
        with open(f'{work}/last_checkpoint', 'w') as f:
            f.write(f'{work}/epoch_1.pth')

    class HalfThenHang:
        """A file that writes half of what it is given, says so, and hangs (until the kill)."""
        def __init__(self, f):
            self.f = f
        def __getattr__(self, name):  # flush, fileno ...
            return getattr(self.f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.f.close()
        def write(self, data):
            self.f.write(data[:len(data) // 2])
            self.f.flush()
            os.fsync(self.f.fileno())
            print('HALF WRITTEN', flush=True)
            time.sleep(600)

    import builtins, os
    def slow_open(path, mode='r', *args, **kwargs):
        f = builtins.open(path, mode, *args, **kwargs)
        return HalfThenHang(f) if 'epoch_2.pth' in str(path) and 'w' in mode else f
    writer.open = slow_open
    save_checkpoint(checkpoint(2), f'{work}/epoch_2.pth')
    print('NOT KILLED', flush=True)
''')


@pytest.mark.parametrize('backend', ['atomic', 'plain'])
def test_sigkill_while_writing_a_checkpoint(tmp_path, backend):
    from custom.engine.checkpoint import load_local_checkpoint
    from custom.engine.checkpoint_files import find_resume_checkpoint
    work = tmp_path / 'work'
    work.mkdir()
    with open(tmp_path / 'child.log', 'w') as log:
        proc = subprocess.Popen([sys.executable, '-c', CHILD, str(work), backend], cwd=REPO, text=True,
                                stdout=subprocess.PIPE, stderr=log, env={**os.environ, 'PYTHONPATH': str(REPO)})
    try:
        lines = iter(proc.stdout.readline, '')  # until the child is halfway through epoch_2.pth, or ends
        assert 'HALF WRITTEN\n' in lines, (tmp_path / 'child.log').read_text()[-3000:]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    names = sorted(p.name for p in work.iterdir())
    if backend == 'atomic':  # the half file has a temporary name; epoch_2.pth never existed
        assert [names[0], names[2]] == ['epoch_1.pth', 'last_checkpoint'] and len(names) == 3
        assert names[1].startswith('epoch_2.pth.tmp-')
        half = work / names[1]
    else:  # mmengine alone leaves a half epoch_2.pth, newer than epoch_1.pth
        assert names == ['epoch_1.pth', 'epoch_2.pth']
        half = work / 'epoch_2.pth'
    assert 10**5 < half.stat().st_size < 2**20 * 0.75  # about half of the 1 MiB checkpoint
    found, notes = find_resume_checkpoint(str(work))
    assert found == str(work / 'epoch_1.pth')
    assert notes == ([] if backend == 'atomic' else
                     [f'{half} is incomplete: skipped',
                      f'resuming from {work}/epoch_1.pth, the newest complete checkpoint'])
    ckpt = load_local_checkpoint(found, map_location='cpu')
    torch.manual_seed(1)
    assert torch.equal(ckpt['state_dict']['w'], torch.randn(256, 1024))
    assert ckpt['meta'] == {'epoch': 1, 'iter': 8}
