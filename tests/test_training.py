"""Training you can trust: atomic checkpoints, kill -9 and resume, DDP on CPU, preflight, seeds."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, SAMPLE, run_tool, write_image

CONFIG = 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample.py'  # 8 iterations an epoch
QUICK = ['default_hooks.logger.interval=1', 'randomness.seed=0']


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    from custom.datasets.coco_writer import write_coco_splits
    out = tmp_path_factory.mktemp('data') / 'bccd_sample'
    write_coco_splits(SAMPLE, out)
    return f'{out}/'


def _ckpt(path: Path) -> dict:
    from custom.engine.checkpoint import load_local_checkpoint
    return load_local_checkpoint(str(path), map_location='cpu')


def _save_tiny_checkpoint(path: Path, epoch: int) -> None:
    torch.save({'meta': {'epoch': epoch}, 'state_dict': {'w': torch.zeros(3)}}, path)


# --- checkpoints a kill cannot corrupt ----------------------------------------------------------

def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    from custom.engine import checkpoint_files as checkpoint
    target = tmp_path / 'epoch_1.pth'
    checkpoint.atomic_write(str(target), b'old')

    def killed(*_):
        raise KeyboardInterrupt('killed during the rename')
    monkeypatch.setattr(checkpoint.os, 'replace', killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.atomic_write(str(target), b'new')
    assert target.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['epoch_1.pth']  # no temporary left behind


def test_mmengine_saves_checkpoints_through_the_atomic_backend(tmp_path):
    import custom.modules  # noqa: F401  (registers the backend, as configs do through custom_imports)
    from mmengine.runner.checkpoint import save_checkpoint
    from custom.engine.checkpoint import AtomicLocalBackend
    from mmengine.fileio import get_file_backend
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth')), AtomicLocalBackend)
    save_checkpoint({'state_dict': {'w': torch.ones(2)}}, str(tmp_path / 'epoch_1.pth'))
    assert torch.equal(_ckpt(tmp_path / 'epoch_1.pth')['state_dict']['w'], torch.ones(2))


def test_resume_passes_over_incomplete_checkpoints_and_pointers(tmp_path):
    from custom.engine.checkpoint_files import find_resume_checkpoint
    assert find_resume_checkpoint(str(tmp_path)) == (None, [])
    for epoch in (1, 2, 10):
        _save_tiny_checkpoint(tmp_path / f'epoch_{epoch}.pth', epoch)
    whole = (tmp_path / 'epoch_10.pth').read_bytes()
    (tmp_path / 'epoch_10.pth').write_bytes(whole[:len(whole) // 2])  # killed while saving
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_10.pth'))
    found, notes = find_resume_checkpoint(str(tmp_path))
    assert found == str(tmp_path / 'epoch_2.pth')  # numeric order: 10 > 2 > 1
    assert notes == [f"{tmp_path / 'last_checkpoint'} names {tmp_path / 'epoch_10.pth'}, which is missing or "
                     f"incomplete (killed while saving?)",
                     f"{tmp_path / 'epoch_10.pth'} is incomplete: skipped",
                     f"resuming from {tmp_path / 'epoch_2.pth'}, the newest complete checkpoint"]
    (tmp_path / 'last_checkpoint').write_text('')
    found, notes = find_resume_checkpoint(str(tmp_path))
    assert found == str(tmp_path / 'epoch_2.pth') and 'is empty' in notes[0]
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == (str(tmp_path / 'epoch_1.pth'), [])


# --- preflight ------------------------------------------------------------------------------------

def _config(data_root: str, monkeypatch, work_dir: Path):
    from mmengine.config import Config
    monkeypatch.setenv('BCCD_ROOT', data_root)
    cfg = Config.fromfile(str(REPO / CONFIG))
    cfg.work_dir = str(work_dir)
    return cfg


def test_parameter_count_for_the_disk_check_matches_a_real_build(data_root, monkeypatch, tmp_path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from custom.engine.preflight import count_parameters
    register_all_modules(init_default_scope=False)
    cfg = _config(data_root, monkeypatch, tmp_path / 'work')
    assert count_parameters(cfg.model) == sum(p.numel() for p in MODELS.build(cfg.model).parameters()) > 10**6

    @MODELS.register_module(name='_NeedsRealTensors', force=True)
    class NeedsRealTensors(torch.nn.Module):  # computes while built: refused on the meta device
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, int(torch.tensor(2.0).item()))

    assert count_parameters(dict(type='_NeedsRealTensors')) == 3 * 2 + 2


def test_preflight_passes_on_good_data(data_root, monkeypatch, tmp_path):
    from custom.engine.preflight import preflight
    preflight(_config(data_root, monkeypatch, tmp_path / 'work'), n_params=10**6, images='full')


def test_preflight_names_each_problem_and_its_fix(tmp_path, monkeypatch):
    from custom.engine.preflight import PreflightError, preflight
    from custom.datasets.coco_writer import write_coco_splits
    root = tmp_path / 'bccd'
    write_coco_splits(SAMPLE, root, link_images=False)
    images = root / 'images' / 'JPEGImages'
    for name in json.loads((root / 'annotations' / 'test.json').read_text())['images'][:2]:
        write_image(root / 'images' / name['file_name'])  # test split: only two images exist
    (images / Path(json.loads((root / 'annotations' / 'test.json').read_text())['images'][0]['file_name']).name
     ).write_bytes(b'\xff\xd8 truncated')
    train = json.loads((root / 'annotations' / 'train.json').read_text())
    train['categories'][0]['name'] = 'platelet'  # a typo: the class 'Platelets' would get AP 0
    (root / 'annotations' / 'train.json').write_text(json.dumps(train))
    (root / 'annotations' / 'val.json').unlink()
    blocker = tmp_path / 'not_a_dir'
    blocker.write_text('')
    cfg = _config(f'{root}/', monkeypatch, blocker / 'work')
    with pytest.raises(PreflightError) as err:
        preflight(cfg, n_params=10**6, images='full')
    message = str(err.value)
    assert (f"{root}/annotations/train.json has no category ['Platelets'] of the config classes "
            f"['Platelets', 'RBC', 'WBC']: those classes get no boxes and their AP is 0") in message
    assert f"{root}/annotations/train.json has categories ['platelet'] that the config classes" in message
    assert (f'{root}/annotations/val.json (val_dataloader) does not exist: convert your data with '
            f'tools/dataset_converters/voc2coco.py') in message
    assert 'does not decode as an image (corrupt or not an image): fix or remove it' in message
    assert re.search(rf'{root}/images/JPEGImages/\S+\.jpg \(in {root}/annotations/train.json\) does not exist',
                     message)
    assert f'work dir {blocker}/work is not writable' in message and 'pass --work-dir DIR' in message


def test_preflight_refuses_a_full_disk(data_root, monkeypatch, tmp_path):
    import shutil
    from custom.engine.preflight import PreflightError, preflight
    monkeypatch.setattr(shutil, 'disk_usage', lambda _: shutil._ntuple_diskusage(10**12, 10**12 - 2**20, 2**20))
    with pytest.raises(PreflightError, match=r'has 1 MiB free but checkpoints need about \d+ MiB: free some space'):
        preflight(_config(data_root, monkeypatch, tmp_path / 'work'), n_params=10**6, images='off')


def test_train_cli_stops_before_training_with_the_preflight_message(tmp_path):
    result = run_tool('tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'w'),
                      env={'BCCD_ROOT': f'{tmp_path}/nothing/'}, timeout=300)
    assert result.returncode == 1
    assert f'{tmp_path}/nothing/annotations/train.json (train_dataloader) does not exist' in result.stderr
    assert not (tmp_path / 'w').exists() or not list((tmp_path / 'w').glob('*.pth'))


# --- the real CLI: kill -9, resume, DDP, seeds -------------------------------------------------------

def _lr_lines(log: str) -> dict[str, str]:
    """'epoch][iter' -> the logged lr of that iteration."""
    return dict(re.findall(r'Epoch\(train\)\s+\[(\d+\]\[\d+)/\d+\]\s+base_lr: \S+ lr: (\S+)', log))


PROBE = """
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ResumedStateProbe(Hook):
    priority = 'VERY_LOW'  # after every other before_train: the state training continues from

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def before_train(self, runner):
        if runner.iter > 0:  # resumed: save what was restored, before any iteration or validation
            runner.save_checkpoint(self.out_dir, 'resumed.pth')
"""


def _differences(a, b, path: str = '') -> list[str]:
    """Where two checkpoint parts differ (tensors exactly)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
        return [] if same else [path]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f'{path} keys {sorted(map(str, set(a) ^ set(b)))}']
        return [d for k in a for d in _differences(a[k], b[k], f'{path}.{k}')]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f'{path}[{i}]')]
    return [] if a == b else [f'{path}: {a!r} != {b!r}']


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_restores_the_whole_state(data_root, tmp_path, monkeypatch):
    from mmengine.config import Config
    work, probe = tmp_path / 'work', tmp_path / 'probe'
    (tmp_path / 'resume_probe.py').write_text(PROBE)
    monkeypatch.setenv('BCCD_ROOT', data_root)
    cfg = Config.fromfile(str(REPO / CONFIG))  # + a hook saving the state a resumed run starts from
    cfg.custom_imports['imports'] = [*cfg.custom_imports['imports'], 'resume_probe']
    cfg.custom_hooks = [*cfg.custom_hooks, dict(type='ResumedStateProbe', out_dir=str(probe))]
    cfg.dump(str(tmp_path / 'probed.py'))
    args = [sys.executable, 'tools/train.py', str(tmp_path / 'probed.py'), '--work-dir', str(work), '--cfg-options',
            'train_cfg.max_epochs=3', 'train_cfg.val_interval=1', *QUICK]
    env = {**os.environ, 'BCCD_ROOT': data_root, 'PYTHONPATH': str(tmp_path)}
    log_path = tmp_path / 'killed.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.time() + 600
        while 'Epoch(train) [2][3/8]' not in log_path.read_text():
            assert proc.poll() is None and time.time() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the process and its dataloader workers, mid-epoch 2
        proc.wait()
    killed_log = log_path.read_text()
    assert (work / 'epoch_1.pth').is_file() and not (work / 'epoch_2.pth').exists()
    saved = _ckpt(work / 'epoch_1.pth')
    result = subprocess.run([*args, '--resume'], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'resumed epoch: 1, iter: 8' in log and 'Epoch(train) [1][' not in log
    # what training continued from is exactly what was saved before the kill: weights (model and EMA),
    # optimizer state, LR schedulers and the best-checkpoint record (no validation ran in between)
    resumed = _ckpt(probe / 'resumed.pth')
    for part in ('state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers'):
        assert _differences(saved[part], resumed[part], part) == []
    before, after = saved['message_hub']['runtime_info'], resumed['message_hub']['runtime_info']
    assert before['best_ckpt'].endswith('best_coco_bbox_mAP_50_epoch_1.pth')
    assert {k: after.get(k) for k in ('best_score', 'best_ckpt')} == {k: before[k] for k in ('best_score', 'best_ckpt')}
    # the LR scheduler continues where it was: iteration [2][1..3] gets the same lr as before the kill
    before, after = _lr_lines(killed_log), _lr_lines(log)
    assert [before[k] for k in ('2][1', '2][2', '2][3')] == [after[k] for k in ('2][1', '2][2', '2][3')]
    final = _ckpt(work / 'epoch_3.pth')
    assert (final['meta']['epoch'], final['meta']['iter']) == (3, 24)
    # AdamW's step counts continue from the 8 steps saved at epoch 1: 24, not 16
    assert {int(s['step']) for s in saved['optimizer']['state'].values()} == {8}
    assert {int(s['step']) for s in final['optimizer']['state'].values()} == {24}
    # docs/training.md's "keep the last 2 and the best", across the resume: epoch_1.pth is gone
    best = Path(final['message_hub']['runtime_info']['best_ckpt']).name
    assert re.fullmatch(r'best_coco_bbox_mAP_50_epoch_[123]\.pth', best)
    assert sorted(p.name for p in work.glob('*.pth')) == sorted([best, 'epoch_2.pth', 'epoch_3.pth'])


def test_every_config_keeps_the_last_2_checkpoints_and_the_best():
    from custom.engine.config import read_config
    configs = sorted((REPO / 'configs').glob('*/*.py'))
    assert len(configs) >= 19
    for path in configs:
        hook = read_config(str(path), import_custom_modules=False).default_hooks.checkpoint
        assert (hook.max_keep_ckpts, hook.save_best, hook.get('rule')) == (2, 'coco/bbox_mAP_50', 'greater'), path


@pytest.mark.slow
def test_ddp_with_two_cpu_processes_through_torchrun(data_root, tmp_path):
    work = tmp_path / 'ddp'
    env = {**os.environ, 'BCCD_ROOT': data_root, 'PYTHON': sys.executable, 'PORT': '29533'}
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(work), '--cfg-options',
         'train_cfg.max_epochs=1', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
         *QUICK],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log and 'backend: gloo' in log.replace("'", '')
    # 32 images, batch 4 per process: 4 iterations an epoch means both ranks took half of the data
    assert 'Epoch(train) [1][4/4]' in log and '[1][5/' not in log
    # saved once, by rank 0: the epoch checkpoint and the best one of the final validation
    assert sorted(p.name for p in work.glob('*.pth')) == ['best_coco_bbox_mAP_50_epoch_1.pth', 'epoch_1.pth']
    assert 'coco/bbox_mAP_50' in log  # validation of both ranks' predictions was gathered
    assert _ckpt(work / 'epoch_1.pth')['meta']['iter'] == 4


@pytest.mark.slow
def test_same_seed_gives_the_same_first_iteration_loss(data_root, tmp_path):
    losses = []
    for run, extra in (('a', ['--tensorboard']), ('b', [])):
        result = run_tool('tools/train.py', CONFIG, '--work-dir', str(tmp_path / run), '--seed', '7',
                          '--deterministic', '--preflight', 'off', *extra, '--cfg-options', 'train_cfg.max_epochs=1',
                          'train_dataloader.dataset.indices=4', 'default_hooks.logger.interval=1',
                          env={'BCCD_ROOT': data_root})
        assert result.returncode == 0, result.stderr[-3000:]
        losses.append(re.search(r'Epoch\(train\)\s+\[1\]\[1/1\].*? loss: (\S+)', result.stdout + result.stderr)[1])
    assert losses[0] == losses[1]
    # logs: scalars for every run, TensorBoard events when asked, the final config beside the checkpoints
    assert list((tmp_path / 'b').glob('*/vis_data/scalars.json'))
    assert list((tmp_path / 'a').glob('*/vis_data/events.out.tfevents.*'))
    assert not list((tmp_path / 'b').glob('*/vis_data/events.out.tfevents.*'))
    assert (tmp_path / 'a' / Path(CONFIG).name).is_file()


@pytest.mark.slow
def test_a_corrupt_image_met_during_training_is_a_named_error(tmp_path):
    import shutil
    root = tmp_path / 'bccd'
    shutil.copytree(SAMPLE, tmp_path / 'voc')
    from custom.datasets.coco_writer import write_coco_splits
    write_coco_splits(tmp_path / 'voc', root)
    train = json.loads((root / 'annotations' / 'train.json').read_text())
    victim = tmp_path / 'voc' / train['images'][0]['file_name']
    victim.write_bytes(b'\xff\xd8 not really a JPEG')  # broken after conversion, preflight off
    result = run_tool('tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'w'), '--preflight', 'off',
                      '--cfg-options', 'train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=4',
                      env={'BCCD_ROOT': f'{root}/'}, timeout=600)
    assert result.returncode == 1
    # loaded in a DataLoader worker, reported as one line: the file and the fix, no traceback
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: {root}/images/JPEGImages/{victim.name}: does not decode as an image (corrupt, truncated or not '
        f'an image): fix or replace the file, or remove it from the annotations and re-run the converter; '
        f'`tools/train.py --preflight full` checks every image before training')
    assert 'Traceback' not in result.stderr


def test_progress_bar_counts_iterations_from_where_a_resumed_run_starts(capsys):
    from types import SimpleNamespace
    from custom.engine.hooks import ProgressBarHook
    runner = SimpleNamespace(max_iters=24, iter=8, epoch=1, max_epochs=3)
    hook = ProgressBarHook(enabled=True)
    hook.before_train(runner)
    for _ in range(3):
        hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.25)})
    assert hook.bar.n == 11 and hook.bar.total == 24
    hook.after_train(runner)
    err = capsys.readouterr().err
    assert '11/24' in err and 'epoch=2/3' in err and 'loss=1.250' in err
    quiet = ProgressBarHook()  # under pytest stderr is not a terminal: no bar
    quiet.before_train(runner)
    assert quiet.bar is None
