"""tools/analysis_tools/experiment_report.py: the five answers read from hand-written work dirs (a training run,
a K-fold run, a tuning study), the report files with their plots, and the refusal of a folder that is none."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_tool

RETINA = """
model = dict(type='RetinaNet', backbone=dict(type='ResNet', depth=18), neck=dict(type='FPN', in_channels=[64]),
             bbox_head=dict(type='RetinaHead', num_classes=2,
                            loss_cls=dict(type='FocalLoss', use_sigmoid=True, loss_weight=1.0),
                            loss_bbox=dict(type='L1Loss', loss_weight=2.0)))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr={lr}, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
                   dict(type='MultiStepLR', by_epoch=True, milestones=[8, 11], gamma=0.1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
train_dataloader = dict(batch_size={batch}, dataset=dict(type='RepeatDataset', times=2, dataset=dict(
    type='CocoDataset', data_root='data/x/', ann_file='annotations/train.json', pipeline=[
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(640, 480), keep_ratio=True), dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'), dict(type='PackDetInputs')])))
test_dataloader = dict(batch_size=1, dataset=dict(type='CocoDataset', data_root='data/x/',
                       ann_file='annotations/test.json', pipeline=[
                           dict(type='LoadImageFromFile'), dict(type='Resize', scale=(640, 480), keep_ratio=True),
                           dict(type='PackDetInputs')]))
test_evaluator = dict(type='CocoMetric', ann_file='data/x/annotations/test.json')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, save_best='coco/bbox_mAP_50', rule='greater'))
custom_hooks = [dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002)]
auto_scale_lr = dict(enable=False, base_batch_size=16)
"""
YOLO = """
model = dict(type='YOLOV3', backbone=dict(type='Darknet', depth=53), neck=dict(type='YOLOV3Neck'),
             bbox_head=dict(type='YOLOV3Head', loss_cls=dict(type='CrossEntropyLoss', loss_weight=1.0),
                            loss_conf=dict(type='CrossEntropyLoss', loss_weight=1.0),
                            loss_xy=dict(type='CrossEntropyLoss', loss_weight=2.0),
                            loss_wh=dict(type='MSELoss', loss_weight=2.0)))
optim_wrapper = dict(type='AmpOptimWrapper', clip_grad=dict(max_norm=10),
                     optimizer=dict(type='AdamW', lr=0.001, betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = dict(type='CosineAnnealingLR', T_max=12, by_epoch=True, begin=0, end=12)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12)
train_dataloader = dict(batch_size=8, dataset=dict(type='CocoDataset', ann_file='a.json', pipeline=[
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=[(320, 320), (608, 608)], keep_ratio=True), dict(type='PackDetInputs')]))
test_dataloader = dict(dataset=dict(type='CocoDataset', ann_file='a.json', pipeline=[
    dict(type='LoadImageFromFile'), dict(type='Resize', scale=(416, 416), keep_ratio=True),
    dict(type='PackDetInputs')]))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1))
custom_hooks = [dict(type='EarlyStoppingHook', monitor='coco/bbox_mAP', patience=3)]
"""


def write_run(work_dir: Path, stamp: str, config: str, losses: list[tuple[int, int, float]],
              val: list[tuple[int, float, float]]) -> Path:
    """A training work dir as mmengine leaves it: WORK_DIR/<stamp>/{<stamp>.log, vis_data/config.py, scalars.json};
    ``losses``: (epoch, iter, loss), ``val``: (epoch, mAP50, mAP50:95)."""
    run = work_dir / stamp
    (run / 'vis_data').mkdir(parents=True)
    (run / 'vis_data' / 'config.py').write_text(config)
    (run / f'{stamp}.log').write_text(f'{stamp[:4]}/01/01 12:00:00 - mmengine - INFO - Epoch(train) [1][5/10]\n')
    lines = [{'lr': 0.01, 'loss': loss, 'epoch': e, 'iter': it, 'step': it} for e, it, loss in losses]
    lines += [{'coco/bbox_mAP': m, 'coco/bbox_mAP_50': m50, 'step': e} for e, m50, m in val]
    (run / 'vis_data' / 'scalars.json').write_text('\n'.join(json.dumps(x) for x in lines) + '\n')
    return work_dir


def write_png(path: Path) -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', (8, 8)).save(path)


@pytest.fixture
def dirs(tmp_path) -> dict[str, Path]:
    """train_a (2024-01-01, RetinaNet, val mAP50 0.5 then 0.4, test 0.45), kf_b (2024-01-02, 2-fold YOLOv3),
    tu_c (2024-01-03, tuning of the RetinaNet recipe, best trial 1)."""
    train = write_run(tmp_path / 'train_a', '20240101_120000', RETINA.format(lr=0.01, batch=4),
                      [(1, 5, 2.0), (1, 10, 1.0), (2, 15, 0.8)], [(1, 0.5, 0.3), (2, 0.4, 0.25)])
    (train / 'test').mkdir()
    (train / 'test' / 'metrics_test.json').write_text(json.dumps(
        {'overall': {'mAP50': 0.45, 'mAP50:95': 0.21}, 'per_class_AP50': {'a': 0.45}, 'evaluator': 'fast'}))
    kf = tmp_path / 'kf_b'
    for i, stamp in enumerate(('20240102_090000', '20240102_100000')):
        write_run(kf / f'fold{i}', stamp, YOLO, [(1, 5, 3.0), (2, 10, 2.5)], [(1, 0.2, 0.1), (2, 0.6 - 0.2 * i, 0.3)])
    write_png(kf / 'plots' / 'kfold_folds.png')
    (kf / 'kfold.json').write_text(json.dumps({
        'config': 'configs/x/yolo.py', 'k': 2, 'seed': 0, 'options': [], 'pool': ['a.json'], 'images': 10,
        'folds': [{'fold': 0, 'images_val': 5, 'mAP50': 0.6, 'mAP50:95': 0.3},
                  {'fold': 1, 'images_val': 5, 'mAP50': 0.4, 'mAP50:95': 0.2}],
        'missing_folds': [], 'mean': {'mAP50': 0.5, 'mAP50:95': 0.25}, 'std': {'mAP50': 0.1414, 'mAP50:95': 0.0707},
        'per_class_AP50': {}, 'oof': {'mAP50': 0.48, 'mAP50:95': 0.24, 'per_class_AP50': {}, 'metrics': 'm.json'}}))
    tu = tmp_path / 'tu_c'
    write_run(tu / 'trial_0', '20240103_090000', RETINA.format(lr=0.002, batch=4), [(1, 5, 1.0)], [(1, 0.3, 0.1)])
    write_run(tu / 'trial_1', '20240103_100000', RETINA.format(lr=0.02, batch=8), [(1, 5, 1.0)], [(1, 0.7, 0.4)])
    write_png(tu / 'plots' / 'optimization_history.png')
    (tu / 'tune.json').write_text(json.dumps({
        'study': 'study_c', 'storage': 'sqlite:///tune.db', 'config': 'configs/x/retina.py',
        'metric': 'coco/bbox_mAP_50', 'direction': 'maximize',
        'space': {'lr': {'type': 'float', 'low': 0.001, 'high': 0.1, 'log': True},
                  'batch_size': {'type': 'categorical', 'choices': [4, 8]}},
        'cfg_options': [], 'trials': {'COMPLETE': 2},
        'best': {'number': 1, 'state': 'COMPLETE', 'value': 0.7, 'param_lr': 0.02, 'param_batch_size': 8},
        'best_config': str(tu / 'best_config.py'), 'importances': {'batch_size': 0.2, 'lr': 0.8}, 'rows': [],
        'plots': {'history': '/moved/away/plots/optimization_history.png'}}))
    return {'train': train, 'kfold': kf, 'tuning': tu}


def _read(dirs: dict[str, Path], **kwargs) -> list:
    from custom.experiments.report import read_experiments
    return read_experiments([dirs['tuning'], dirs['kfold'], dirs['train']], with_params=False, **kwargs)


def test_optimizer_and_losses_come_from_the_configs(dirs):
    from custom.experiments.report_render import answer_q1
    sentence, table = answer_q1(_read(dirs))
    assert sentence.startswith('train_a: SGD (lr 0.01, momentum 0.9, weight decay 0.0005) in OptimWrapper, no grad '
                               'clip; losses loss_cls FocalLoss ×1, loss_bbox L1Loss ×2. ')
    assert table.rows == (
        ('train_a', 'SGD', '0.01', '0.9', '0.0005', 'OptimWrapper', 'none',
         'loss_cls FocalLoss ×1, loss_bbox L1Loss ×2'),
        ('kf_b (2-fold)', 'AdamW', '0.001', 'betas (0.9, 0.999)', '0.05', 'AmpOptimWrapper', 'max_norm 10',
         'loss_cls CrossEntropyLoss ×1, loss_conf CrossEntropyLoss ×1, loss_xy CrossEntropyLoss ×2, '
         'loss_wh MSELoss ×2'),
        ('tu_c (best trial 1)', 'SGD', '0.02', '0.9', '0.0005', 'OptimWrapper', 'none',
         'loss_cls FocalLoss ×1, loss_bbox L1Loss ×2'))


def test_architectures_in_start_order_with_test_and_val_map(dirs):
    from custom.experiments.report_render import answer_architectures
    q2, q2_table, q3, q3_table = answer_architectures(_read(dirs))
    assert q2 == ('The first architecture tried, in train_a (started 2024-01-01 12:00:00), was RetinaNet (ResNet '
                  '(depth 18) + FPN + RetinaHead) at 640x480: test mAP50 0.450, mAP50:95 0.210, best val mAP50 0.500.')
    assert q2_table.rows == (('1', 'train_a', 'training', '2024-01-01 12:00:00', 'RetinaNet', 'ResNet (depth 18)',
                              'FPN', 'RetinaHead', '640x480', '0.450', '0.210', '0.500', '-', '-'),)
    assert q3 == ('2 later experiment(s), in start order: kf_b (2-fold) (2024-01-02 09:00:00): YOLOV3 (Darknet '
                  '(depth 53) + YOLOV3Neck + YOLOV3Head) at 416x416, test mAP50 0.500 ± 0.141 (held-out folds), '
                  'mAP50:95 0.250 ± 0.071 (held-out folds), best val mAP50 0.500 (mean of 2 folds); tu_c (best '
                  'trial 1) (2024-01-03 09:00:00): RetinaNet (ResNet (depth 18) + FPN + RetinaHead) at 640x480 '
                  '(same architecture as train_a), test mAP50 -, mAP50:95 -, best val mAP50 0.700 (trial_1).')
    assert [row[:4] for row in q3_table.rows] == [('2', 'kf_b (2-fold)', 'kfold', '2024-01-02 09:00:00'),
                                                  ('3', 'tu_c (best trial 1)', 'tuning', '2024-01-03 09:00:00')]


def test_overfitting_answer_reads_the_pipeline_hooks_and_the_logged_gap(dirs):
    from custom.experiments.report_render import answer_q4
    sentence, table, gap = answer_q4(_read(dirs))
    assert table.rows[0] == ('train_a', 'RandomFlip, PhotoMetricDistortion', '0.0005', 'coco/bbox_mAP_50 (greater)',
                             'EMAHook (ExpMomentumEMA, momentum 0.0002)', 'no', '-')
    assert table.rows[1] == ('kf_b (2-fold)', 'RandomResize', '0.05', 'no', 'no',
                             'EarlyStoppingHook (monitor coco/bbox_mAP, patience 3)',
                             'mAP50 0.500 ± 0.141 over 2 of 2 folds (min 0.400, max 0.600); out-of-fold 0.480')
    assert gap.rows == (
        ('train_a', '1.5 (epoch 1) → 0.8 (epoch 2)', 'peaked at epoch 1 of 2, last 0.400 vs best 0.500'),
        ('kf_b/fold0', '3 (epoch 1) → 2.5 (epoch 2)', 'peaked at epoch 2 of 2, last 0.600 vs best 0.600'),
        ('kf_b/fold1', '3 (epoch 1) → 2.5 (epoch 2)', 'peaked at epoch 2 of 2, last 0.400 vs best 0.400'),
        ('tu_c/trial_0', '1 (epoch 1)', 'peaked at epoch 1 of 1, last 0.300 vs best 0.300'),
        ('tu_c/trial_1', '1 (epoch 1)', 'peaked at epoch 1 of 1, last 0.700 vs best 0.700'))
    assert sentence == ('Of 3 experiment(s), 3 augment the training images, 3 use weight decay, 2 keep the best '
                        'checkpoint on val, 2 use EMA and 1 stop early. Val mAP50 fell after its peak in: train_a '
                        '(peaked at epoch 1 of 2, last 0.400 vs best 0.500). K-fold spread: kf_b (2-fold): '
                        'mAP50 0.500 ± 0.141 over 2 of 2 folds (min 0.400, max 0.600); out-of-fold 0.480.')


def test_schedule_answer_and_the_tuning_evidence(dirs):
    from custom.experiments.report_render import answer_q5
    sentence, table, evidence = answer_q5(_read(dirs))
    assert table.rows[0] == ('train_a', '4', '12', '2', '0.01', 'LinearLR (start_factor 0.001, iters 0-500); '
                             'MultiStepLR (milestones [8, 11], gamma 0.1)', '500 iterations', 'off (base batch 16)')
    assert table.rows[1][5:] == ('CosineAnnealingLR (T_max 12, epochs 0-12)', 'none', '-')
    assert table.rows[2][:5] == ('tu_c (best trial 1)', '8', '12', '1', '0.02')
    assert evidence.rows == (('study_c', 'lr', '0.80', '0.02', 'float 0.001-0.1 (log)'),
                             ('study_c', 'batch_size', '0.20', '8', 'categorical [4, 8]'))
    assert sentence.startswith('train_a: batch 4, epochs 12, lr 0.01 with LinearLR (start_factor 0.001, iters 0-500) '
                               'then MultiStepLR (milestones [8, 11], gamma 0.1), warm-up 500 iterations, '
                               'auto_scale_lr off (base batch 16). ')
    assert sentence.endswith('Evidence from tuning study study_c (2 complete trials): best trial 1: coco/bbox_mAP_50 '
                             '0.7000 with lr 0.02, batch_size 8; the most important parameter was lr (0.80).')


def test_speed_and_params_come_from_a_benchmark_row(dirs, tmp_path):
    from custom.experiments.report import read_benchmark_rows
    from custom.experiments.report_render import answer_architectures
    report = tmp_path / 'report.json'
    report.write_text(json.dumps({'models': [{'name': 'a', 'work_dir': str(dirs['train']), 'ms_per_img': 12.34,
                                              'params': 1234567}]}))
    _, q2_table, _, q3_table = answer_architectures(_read(dirs, benchmark_rows=read_benchmark_rows([report])))
    assert q2_table.rows[0][-2:] == ('1.23 M', '12.3')
    assert [row[-1] for row in q3_table.rows] == ['-', '-']


def test_a_sibling_evaluation_counts_only_on_the_test_split_without_tta(tmp_path):
    from custom.experiments.report import read_experiments
    train = write_run(tmp_path / 'run', '20240101_120000', RETINA.format(lr=0.01, batch=4), [(1, 5, 1.0)], [])
    for folder, ann, tta, map50 in (('a-val', 'data/x/annotations/val.json', None, 0.9),
                                    ('b-tta', 'data/x/annotations/test.json', {'scales': [1]}, 0.8),
                                    ('c-test', 'data/x/annotations/test.json', None, 0.7)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / 'metrics_test.json').write_text(json.dumps({
            'overall': {'mAP50': map50, 'mAP50:95': 0.1}, 'per_class_AP50': {'a': map50},
            'checkpoint': str(train / 'epoch_1.pth'), 'ann_file': ann, 'tta': tta}))
    [experiment] = read_experiments([train], with_params=False)
    assert experiment.shown.test.map50 == 0.7
    assert experiment.shown.test.source == str(tmp_path / 'c-test' / 'metrics_test.json')


def test_the_tool_writes_markdown_and_a_standalone_html_with_the_plots(dirs, tmp_path):
    out = tmp_path / 'report'
    result = run_tool('tools/analysis_tools/experiment_report.py', str(dirs['train']), str(dirs['kfold']),
                      str(dirs['tuning']), '--out', str(out), '--no-params', timeout=300)
    assert result.returncode == 0, result.stderr
    md, html = (out / 'experiment_report.md').read_text(), (out / 'experiment_report.html').read_text()
    links = ['plots/val_map50.png', 'plots/train_loss.png', 'plots/kf_b_kfold_folds.png',
             'plots/tu_c_optimization_history.png']
    for link in links:
        assert f']({link})' in md and (out / link).stat().st_size > 0
    assert html.count('src="data:image/png;base64,') == len(links)
    assert 'peaked at epoch 1 of 2, last 0.400 vs best 0.500' in md and 'peaked at epoch 1 of 2' in html
    for title in ('Q1. Optimizer and loss functions', 'Q2. The first architecture tried', 'Q3. The later '
                  'architectures', 'Q4. Against over-fitting', 'Q5. Batch size, epochs, learning rate and schedule'):
        assert f'## {title}' in md and f'<h2>{title}</h2>' in html


def test_a_folder_that_is_no_work_dir_is_refused_and_nothing_is_written(dirs, tmp_path):
    bad = tmp_path / 'evaluation_only'
    (bad / '20240101_120000' / 'vis_data').mkdir(parents=True)
    (bad / '20240101_120000' / 'vis_data' / 'config.py').write_text(RETINA.format(lr=0.01, batch=4))
    out = tmp_path / 'report'
    result = run_tool('tools/analysis_tools/experiment_report.py', str(dirs['train']), str(bad), '--out', str(out),
                      '--no-params', timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: {bad}: not a training, K-fold or tuning work dir: it has no <timestamp>/vis_data/config.py of a run '
        f'that trained (tools/train.py), no kfold.json (tools/kfold.py) and no tune.json (tools/tune.py)')
    assert not out.exists()
    from custom.experiments.report import ReportError, kind_of
    with pytest.raises(ReportError, match='no such directory'):
        kind_of(tmp_path / 'missing')
    (tmp_path / 'half_kfold').mkdir()
    (tmp_path / 'half_kfold' / 'kfold_settings.json').write_text('{}')
    with pytest.raises(ReportError, match='a K-fold run without kfold.json: .* --gather'):
        kind_of(tmp_path / 'half_kfold')
