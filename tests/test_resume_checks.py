"""Resume refuses what it cannot continue: unreadable checkpoints, and checkpoints of another dataset or model.

No training here: checkpoints are written by hand (meta as mmengine's Runner writes it, tensors of
the right names and shapes) and the CLI stops before the Runner is built.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import REPO, SAMPLE, run_tool

BCCD = 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample.py'
FACE_MASK = 'configs/face_mask/rtmdet_tiny-scratch_cpu-320_1xb8-50e_face_mask.py'
BCCD_CLASSES = ['Platelets', 'RBC', 'WBC']
FACE_MASK_CLASSES = ['mask_weared_incorrect', 'with_mask', 'without_mask']


def _config(path: str, monkeypatch, **model_changes):
    from mmdet.utils import register_all_modules
    from custom.engine.config import read_config
    register_all_modules(init_default_scope=False)
    monkeypatch.setenv('BCCD_ROOT', '/nonexistent/bccd/')
    monkeypatch.setenv('FACE_MASK_ROOT', '/nonexistent/face_mask/')
    cfg = read_config(str(REPO / path))
    for key, value in model_changes.items():
        cfg.merge_from_dict({f'model.{key}': value})
    return cfg


def _checkpoint_of(cfg, classes) -> dict:
    """What Runner.save_checkpoint stores, with meta-device tensors of the model's shapes."""
    from custom.engine.resume_check import model_shapes
    return {'meta': {'epoch': 1, 'iter': 8, 'cfg': cfg.pretty_text, 'dataset_meta': {'classes': tuple(classes)}},
            'state_dict': {k: torch.empty(s, device='meta') for k, s in model_shapes(cfg.model).items()}}


def _face_mask_root(tmp_path: Path) -> str:
    """A face-mask data root with annotation files and no images (enough for --preflight off)."""
    import json
    root = tmp_path / 'face_mask'
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    coco = {'images': [], 'annotations': [],
            'categories': [{'id': i + 1, 'name': name} for i, name in enumerate(FACE_MASK_CLASSES)]}
    for split in ('train', 'val', 'test'):
        (root / 'annotations' / f'{split}.json').write_text(json.dumps(coco))
    return f'{root}/'


def _save_real(cfg, classes, path: Path) -> None:
    ckpt = _checkpoint_of(cfg, classes)
    ckpt['state_dict'] = {k: torch.zeros(v.shape) for k, v in ckpt['state_dict'].items()}
    torch.save(ckpt, path)


# --- unreadable checkpoints: one line naming the file ---------------------------------------------------

@pytest.mark.parametrize('content, what', [
    (b'', 'is empty'),
    (b'hello, not a checkpoint', 'is not a torch.save checkpoint'),
    (b'{"state_dict": {}}\n', 'is not a torch.save checkpoint'),
    ('half', 'is truncated')])
def test_an_unreadable_checkpoint_is_one_line_naming_the_file(tmp_path, content, what):
    from custom.engine.checkpoint import CheckpointError, load_local_checkpoint
    path = tmp_path / 'epoch_3.pth'
    if content == 'half':
        torch.save({'state_dict': {'w': torch.zeros(1000)}}, path)
        content = path.read_bytes()[:len(path.read_bytes()) // 2]
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        load_local_checkpoint(str(path))
    message = str(err.value)
    assert message.startswith(f'{path} {what}') and '\n' not in message
    assert message.endswith('use another checkpoint, e.g. --resume without a value resumes from the newest '
                            'complete one in the work dir')
    assert 'weights_only' not in message


def test_cli_resume_from_a_truncated_checkpoint_stops_with_one_line(tmp_path):
    from custom.datasets.coco_writer import write_coco_splits
    write_coco_splits(SAMPLE, tmp_path / 'bccd')
    path = tmp_path / 'epoch_2.pth'
    torch.save({'state_dict': {'w': torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:3000])
    result = run_tool('tools/train.py', BCCD, '--work-dir', str(tmp_path / 'w'), '--resume', str(path),
                      '--preflight', 'off', env={'BCCD_ROOT': f'{tmp_path}/bccd/'}, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: {path} is truncated (3000 bytes; killed while saving, or copied partly?): use another checkpoint, '
        f'e.g. --resume without a value resumes from the newest complete one in the work dir')
    assert 'Traceback' not in result.stderr and 'weights_only' not in result.stderr


# --- a checkpoint of another dataset or model is refused, both sides named ------------------------------

def test_resume_problems_name_both_sides(monkeypatch):
    from custom.engine.resume_check import model_shapes, resume_problems
    cfg = _config(BCCD, monkeypatch)
    assert resume_problems(cfg, _checkpoint_of(cfg, BCCD_CLASSES), model_shapes(cfg.model)) == []
    two = _config(BCCD, monkeypatch, **{'bbox_head.num_classes': 2})
    problems = resume_problems(cfg, _checkpoint_of(two, ['a', 'b']), model_shapes(cfg.model))
    assert problems == [
        "classes: checkpoint ['a', 'b'], config ['Platelets', 'RBC', 'WBC']",
        'num_classes: checkpoint 2, config 3',
        'weights: 6 tensors differ in shape (e.g. bbox_head.rtm_cls.0.weight: checkpoint (2, 96, 1, 1), config '
        '(3, 96, 1, 1), bbox_head.rtm_cls.0.bias: checkpoint (2,), config (3,))']
    yolo = _config('configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py', monkeypatch)
    problems = resume_problems(cfg, _checkpoint_of(yolo, BCCD_CLASSES), model_shapes(cfg.model))
    assert problems[0] == 'model type: checkpoint YOLOV3, config RTMDet'
    assert problems[1].startswith('weights: ')
    assert 'tensors of the config model are not in the checkpoint' in problems[1]
    # without the config text (an older or foreign checkpoint) the weights still tell
    bare = _checkpoint_of(yolo, BCCD_CLASSES)
    del bare['meta']['cfg']
    assert [p.split(':')[0] for p in resume_problems(cfg, bare, model_shapes(cfg.model))] == ['weights']


def test_cli_refuses_a_bccd_checkpoint_in_the_face_mask_config(tmp_path, monkeypatch):
    work = tmp_path / 'work'
    work.mkdir()
    _save_real(_config(BCCD, monkeypatch), BCCD_CLASSES, work / 'epoch_4.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_4.pth'))
    result = run_tool('tools/train.py', FACE_MASK, '--work-dir', str(work), '--resume', '--preflight', 'off',
                      env={'FACE_MASK_ROOT': _face_mask_root(tmp_path)}, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert (f"error: {FACE_MASK}: refusing to resume from {work}/epoch_4.pth: it was not trained with this config:\n"
            f"  - classes: checkpoint {BCCD_CLASSES}, config {FACE_MASK_CLASSES}\n"
            f"  resume with the config it was trained with, or train this config in a new work dir starting from "
            f"its weights: --weights {work}/epoch_4.pth (without --resume)") in result.stderr
    assert not [p for p in work.iterdir() if p.is_dir()]  # no Runner: no log folder


class _RunnerBuilt(Exception):
    pass


def _train_in_process(monkeypatch, tmp_path, *argv):
    """Run custom.apis.train.train up to the Runner (which raises _RunnerBuilt with the config it got)."""
    import custom.apis.train as train_module

    class FakeRunner:
        @staticmethod
        def from_cfg(cfg):
            raise _RunnerBuilt(cfg)
    monkeypatch.setattr(train_module, 'Runner', FakeRunner)
    monkeypatch.setenv('FACE_MASK_ROOT', _face_mask_root(tmp_path))
    monkeypatch.chdir(REPO)
    with pytest.raises(_RunnerBuilt) as built:
        train_module.train(train_module.build_parser().parse_args(
            [FACE_MASK, '--work-dir', str(tmp_path / 'w'), '--preflight', 'off', *argv]))
    return built.value.args[0]


def test_fine_tuning_from_another_dataset_is_not_refused(tmp_path, monkeypatch):
    _save_real(_config(BCCD, monkeypatch), BCCD_CLASSES, tmp_path / 'bccd.pth')
    cfg = _train_in_process(monkeypatch, tmp_path, '--cfg-options', f'load_from={tmp_path}/bccd.pth')
    assert cfg.load_from == f'{tmp_path}/bccd.pth' and not cfg.get('resume')
    with pytest.raises(SystemExit, match='refusing to resume'):  # the same file, resumed: refused
        _train_in_process(monkeypatch, tmp_path, '--resume', f'{tmp_path}/bccd.pth')


def test_train_loads_images_through_the_checked_loader(tmp_path, monkeypatch):
    cfg = _train_in_process(monkeypatch, tmp_path)
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline[:1] + cfg.val_dataloader.dataset.pipeline[:1]]
    switch = [h for h in cfg.custom_hooks if h['type'] == 'PipelineSwitchHook'][0]['switch_pipeline']
    assert types + [switch[0]['type']] == ['CheckedLoadImageFromFile'] * 3

