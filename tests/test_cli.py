"""The real CLI on the shipped sample: convert, train a few iterations, test with pictures, resume."""
import json

import pytest
import torch

from conftest import CLI_CONFIG as CONFIG, run_tool

pytestmark = pytest.mark.slow
ITERS_PER_EPOCH = 4  # 32 train images of the sample at batch 8


def _ckpt(path):
    from custom.engine.checkpoint import load_local_checkpoint
    return load_local_checkpoint(str(path), map_location='cpu')


def test_train_writes_checkpoints_and_validates(trained_sample):
    work, result = trained_sample
    assert (work / 'epoch_1.pth').is_file() and (work / 'epoch_2.pth').is_file()
    log = result.stdout + result.stderr
    assert 'Epoch(train) [2][4/4]' in log
    assert 'coco/bbox_mAP_50' in log  # validation ran at the end of epoch 2
    meta = _ckpt(work / 'epoch_2.pth')['meta']
    assert (meta['epoch'], meta['iter']) == (2, 2 * ITERS_PER_EPOCH)
    assert meta['dataset_meta']['classes'] == ('Platelets', 'RBC', 'WBC')


def test_test_cli_prints_and_saves_metrics_and_draws_boxes(trained_sample, sample_data_root, tmp_path):
    work, _ = trained_sample
    result = run_tool('tools/test.py', CONFIG, str(work / 'epoch_2.pth'), '--work-dir', str(tmp_path),
                      '--show-dir', 'show', env={'BCCD_ROOT': sample_data_root})
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / 'metrics_test.json').read_text())
    assert set(metrics['overall']) >= {'mAP50:95', 'mAP50', 'mAP75'}
    assert 0.0 <= metrics['overall']['mAP50'] <= 1.0
    assert metrics['overall']['mAP_small'] is None  # the sample has no box under 32x32: n/a, not -1
    assert all(v is None or 0.0 <= v <= 1.0 for v in metrics['overall'].values())
    assert set(metrics['per_class_AP50:95']) == {'Platelets', 'RBC', 'WBC'}
    assert 'mAP50 ' in result.stdout and 'Platelets' in result.stdout
    pictures = list(tmp_path.glob('*/show/*.jpg'))
    assert len(pictures) == 12  # every test image of the sample, ground truth beside prediction
    from PIL import Image
    with Image.open(pictures[0]) as img:
        assert img.width == 2 * 640 and img.height == 480

    # every metric comes from the saved detections and equals what mmdet's CocoMetric logged (3 decimals)
    raw = metrics['raw']
    for name, key in (('mAP50:95', 'coco/bbox_mAP'), ('mAP50', 'coco/bbox_mAP_50'), ('mAP75', 'coco/bbox_mAP_75')):
        assert metrics['overall'][name] == pytest.approx(raw[key], abs=5.1e-4), name
    for name in ('Platelets', 'RBC', 'WBC'):
        value = metrics['per_class_AP50:95'][name]
        assert (value or 0.0) == pytest.approx(raw[f'coco/{name}_precision'], abs=5.1e-4)
    assert set(metrics['per_class_AP50']) == {'Platelets', 'RBC', 'WBC'}
    assert set(metrics['voc_mAP50']) == {'area', '11points'}
    assert set(metrics['best_f1']['per_class']) == {'Platelets', 'RBC', 'WBC'}
    assert len(metrics['confusion_matrix']['matrix']) == 4  # 3 classes + background
    assert 'best F1' in result.stdout and 'confusion matrix' in result.stdout
    detections = tmp_path / 'detections.bbox.json'
    assert json.loads(detections.read_text())  # COCO results, for re-plotting without inference
    for name in ('confusion_matrix', 'pr_curves', 'ap_per_class', 'training_curves'):  # curves: the training log
        assert (tmp_path / 'plots' / f'{name}.png').stat().st_size > 5000, name
    assert len(list((tmp_path / 'images' / 'predictions').glob('*.jpg'))) == 12
    assert len(list((tmp_path / 'images' / 'worst').glob('*.jpg'))) == 8
    assert len(list((tmp_path / 'images' / 'best').glob('*.jpg'))) == 8

    again = run_tool('tools/analysis_tools/analyze_results.py', CONFIG, str(detections),
                     '--work-dir', str(tmp_path / 'again'), '--no-pictures', env={'BCCD_ROOT': sample_data_root})
    assert again.returncode == 0, again.stderr[-3000:]
    recomputed = json.loads((tmp_path / 'again' / 'metrics_analysis.json').read_text())
    assert recomputed['overall'] == metrics['overall']
    assert recomputed['per_class_AP50'] == metrics['per_class_AP50']


def test_resume_continues_from_the_saved_state(trained_sample, sample_data_root, tmp_path):
    import shutil
    work, _ = trained_sample
    resumed = tmp_path / 'resumed'
    shutil.copytree(work, resumed)
    (resumed / 'epoch_2.pth').unlink()  # as if killed during epoch 2: latest is epoch_1
    (resumed / 'last_checkpoint').write_text(str(resumed / 'epoch_1.pth'))
    before = _ckpt(resumed / 'epoch_1.pth')
    result = run_tool('tools/train.py', CONFIG, '--work-dir', str(resumed), '--resume', '--cfg-options',
                      'train_cfg.max_epochs=2', 'train_cfg.val_interval=2', 'default_hooks.logger.interval=1',
                      'randomness.seed=0', env={'BCCD_ROOT': sample_data_root})
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'resumed epoch: 1, iter: 4' in log
    assert 'Epoch(train) [1]' not in log and 'Epoch(train) [2][4/4]' in log
    after = _ckpt(resumed / 'epoch_2.pth')
    assert (after['meta']['epoch'], after['meta']['iter']) == (2, 2 * ITERS_PER_EPOCH)
    # optimizer momentum buffers and the scheduler position came from epoch_1, not from scratch
    assert before['optimizer']['state'] and after['optimizer']['state']
    warmup, cosine = after['param_schedulers']
    assert (warmup['last_step'], cosine['last_step']) == (2 * ITERS_PER_EPOCH, 2)  # iters, epochs
    # epoch 2 trained on from epoch 1's weights (a fresh start would not be 'resumed epoch: 1')
    changed = [k for k, v in before['state_dict'].items()
               if v.is_floating_point() and not torch.equal(v, after['state_dict'][k])]
    assert changed
