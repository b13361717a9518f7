"""tools/analysis_tools/benchmark.py: train or reuse, evaluate, time and report; report rendering and curves.

The slow test runs the real CLI twice on the shipped sample (two configs, one epoch each): the
first run trains, the second reuses the work dirs (same checkpoints, no training) and compares
against the first report.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import SAMPLE, run_tool

BENCHMARK = 'tools/analysis_tools/benchmark.py'
CONFIGS = ('configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample.py',
           'configs/bccd/ssdlite_mobilenetv2-scratch_cpu-1xb8-60e_bccd.py')
NAMES = tuple(Path(c).stem for c in CONFIGS)
CLASSES = ('Platelets', 'RBC', 'WBC')
SECTIONS = ('Results', 'Speed vs accuracy', 'Per-class AP', 'Training curves', 'Predictions', 'Method',
            'Environment')
FAST = ['--epochs', '1', '--warmup', '1', '--repeats', '3', '--train-warmup', '1', '--train-steps', '2',
        '--cfg-options', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        'param_scheduler.0.end=4',  # a 4-iteration warm-up instead of 40/100 for a one-epoch run
        'model.test_cfg.score_thr=0.0',  # every box counts: after one epoch few score above SSD's 0.02
        'default_hooks.logger.interval=1']


ENV = {'date': '2026-01-01T00:00:00+00:00', 'cpu': 'Test CPU 9000', 'cpu_count': 2, 'cpus_usable': 2,
       'torch_threads': 2, 'gpu': None, 'platform': 'Linux', 'load_avg_1m': 0.5,
       'versions': {'python': '3.11.9', 'torch': '2.13.0', 'mmdet': '3.3.0', 'mmcv': '2.1.0', 'mmengine': '0.10.7'}}
SETTINGS = {'device': 'cpu', 'speed': {'warmup': 3, 'repeats': 20, 'train_warmup': 2, 'train_steps': 5}}


def _read(config: str, options=()):
    """A config of the repository with ``key=value`` options merged, as the benchmark reads it."""
    from custom.benchmark.presets import repo_path
    from custom.engine.config import parse_cfg_options, read_config
    return read_config(str(repo_path(config)), parse_cfg_options(options))


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image
    assert path.is_file() and path.stat().st_size > 1000, path
    with Image.open(path) as img:
        assert img.format == 'PNG'
        return img.size


# --------------------------------------------------------------------------- fast tests

def _write_run(work: Path, stamp: str, train: list[dict], val: list[dict], log: list[tuple[str, str]]) -> None:
    run = work / stamp
    (run / 'vis_data').mkdir(parents=True)
    (run / 'vis_data' / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in train + val) + '\n{"trunc')
    lines = [f'{log[0][0]} - mmengine - INFO - Config:', 'a config line without a time stamp']
    lines += [f'{t} - mmengine - INFO - {text}' for t, text in log[1:]]
    (run / f'{stamp}.log').write_text('\n'.join(lines) + '\n')


@pytest.fixture
def fake_work_dir(tmp_path):
    """A work dir with a run killed in epoch 2 and its resumed run (steps repeated)."""
    work = tmp_path / 'work'

    def rec(it, epoch, loss):
        return {'lr': 0.01, 'loss': loss, 'loss_cls': loss / 2, 'loss_bbox': loss / 2, 'epoch': epoch,
                'iter': it, 'step': it}
    _write_run(work, '20260101_100000', [rec(1, 1, 3.0), rec(2, 1, 2.5), rec(3, 2, 9.9)],
               [{'coco/bbox_mAP': 0.1, 'coco/bbox_mAP_50': 0.3, 'coco/bbox_mAP_75': 0.05, 'step': 1}],
               [('2026/01/01 10:00:00', ''), ('2026/01/01 10:00:20', 'Epoch(train) [1][2/2]  loss: 2.5'),
                ('2026/01/01 10:00:30', 'Saving checkpoint at 1 epochs'),
                ('2026/01/01 10:01:00', 'Epoch(train) [2][1/2]  loss: 9.9')])  # killed in epoch 2
    _write_run(work, '20260101_110000', [rec(3, 2, 2.0), rec(4, 2, 1.5)],
               [{'coco/bbox_mAP': 0.2, 'coco/bbox_mAP_50': 0.5, 'coco/bbox_mAP_75': 0.1, 'step': 2}],
               [('2026/01/01 11:00:00', ''), ('2026/01/01 11:00:45', 'Saving checkpoint at 2 epochs'),
                ('2026/01/01 11:00:50', 'Epoch(val) [2][1/1]')])
    test_run = work / '20260101_120000'  # an evaluation run: no Epoch(train), not training time
    test_run.mkdir()
    (test_run / '20260101_120000.log').write_text('2026/01/01 12:00:00 - mmengine - INFO - x\n'
                                                  '2026/01/01 12:09:00 - mmengine - INFO - Epoch(test) [1/1]\n')
    return work


def test_curves_merge_resumed_runs_and_plot(fake_work_dir, tmp_path):
    from custom.engine.training_logs import read_scalars, training_wall_time
    from custom.visualization.curves import plot_training_curves
    train, val = read_scalars(fake_work_dir)
    assert [r['iter'] for r in train] == [1, 2, 3, 4]
    assert train[2]['loss'] == 2.0  # the resumed run's value replaces the killed run's
    assert [(r['step'], r['coco/bbox_mAP_50']) for r in val] == [(1, 0.3), (2, 0.5)]
    assert training_wall_time(fake_work_dir) == 30 + 45  # up to each run's last checkpoint
    out = plot_training_curves(str(fake_work_dir), str(tmp_path / 'sub' / 'curves.png'))
    assert out == str(tmp_path / 'sub' / 'curves.png')
    assert _png_size(Path(out)) == (1100, 400)
    with pytest.raises(FileNotFoundError, match='no training records'):
        plot_training_curves(str(tmp_path), str(tmp_path / 'x.png'))


def _model(name: str, map50: float, ms: float, **extra) -> dict:
    return {'name': name, 'config': f'configs/bccd/{name}.py', 'dataset': 'bccd',
            'train_ann': 'annotations/trainval.json', 'train_images': 292, 'epochs': 50, 'config_epochs': 50,
            'input_size': '320x320', 'mAP50': map50, 'mAP50:95': map50 / 2, 'mAP75': None,
            'per_class_AP50': {'Platelets': 0.61, 'RBC': 0.72, 'WBC': 0.97},
            'per_class_AP50:95': {'Platelets': 0.31, 'RBC': 0.42, 'WBC': 0.67},
            'params': 4_870_000, 'flops': 2_030_000_000, 'ms_per_img': ms, 'train_img_per_s': 6.25,
            'batch_size': 8, 'train_wall_s': 2580.0, 'training': 'reused', **extra}


def test_report_rendering_from_a_hand_made_results_dict(fake_work_dir, tmp_path):
    from PIL import Image

    from custom.benchmark.plots import PER_CLASS_PX, SCATTER_PX
    from custom.benchmark.render import write_report
    from custom.visualization.curves import plot_training_curves
    out = tmp_path / 'report'
    models = [_model('rtmdet_tiny', 0.861, 41.2), _model('ssdlite', 0.702, 18.4)]
    for m in models:
        m['curves_png'] = f"curves/{m['name']}.png"
        plot_training_curves(str(fake_work_dir), str(out / m['curves_png']))
        m['predictions'] = []
        for i in range(3):
            rel = f"predictions/{m['name']}/img{i}.jpg"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new('RGB', (64, 32), (10 * i, 0, 0)).save(out / rel)
            m['predictions'].append(rel)
    report = {'title': 'Unit benchmark', 'environment': dict(ENV), 'models': models, 'failures': [],
              'settings': dict(SETTINGS)}
    old = {'environment': {'date': '2025-12-01T00:00:00+00:00'},
           'models': [_model('rtmdet_tiny', 0.800, 50.0), _model('yolo_gone', 0.5, 10.0)]}
    paths = write_report(report, out, old=old, old_path='old/report.json')

    assert _png_size(out / 'speed_vs_map.png') == SCATTER_PX
    assert _png_size(out / 'per_class_ap.png') == PER_CLASS_PX
    data = json.loads(paths['json'].read_text())
    rows = {r['name']: r for r in data['comparison']['rows']}
    assert rows['rtmdet_tiny']['mAP50']['delta'] == pytest.approx(0.061)
    assert rows['rtmdet_tiny']['ms_per_img']['percent'] == pytest.approx(100 * (41.2 - 50) / 50)
    assert rows['ssdlite']['status'] == 'new' and rows['yolo_gone']['status'] == 'removed'

    md, page = paths['md'].read_text(), paths['html'].read_text()
    for title in SECTIONS + ('Comparison with old/report.json',):
        assert f'## {title}' in md
        assert f'<h2>{title}</h2>' in page
    for text in ('0.861', '0.702', '41.2', '18.4', '4.87 M', '2.03 G', '6.2', '43.0 min', '320x320',
                 'Platelets 0.61, RBC 0.72, WBC 0.97', 'bccd (trainval, 292 img)', 'Test CPU 9000', '0.10.7',
                 '0.800 -> 0.861 (+0.061)', '50.0 -> 41.2 (-8.8, -18%)', '(removed)', 'The machines differ'):
        assert text in md, text
        assert text.replace('->', '-&gt;') in page, text
    # markdown links the images relatively; the HTML embeds every one of them
    for rel in ['speed_vs_map.png', 'per_class_ap.png'] + [p for m in models for p in m['predictions']]:
        assert f']({rel})' in md
    assert page.count('src="data:image/png;base64,') == 4  # 2 plots + 2 curves
    assert page.count('src="data:image/jpeg;base64,') == 6
    assert 'src="curves/' not in page and 'src="predictions/' not in page
    # the results table has one row per model with every column
    table = [line for line in md.splitlines() if line.startswith('| rtmdet_tiny |')][0]
    assert table.count(' | ') == 12
    # the Method names the evaluator that computed the COCO numbers (rows without one: the fast evaluator)
    for text in (md, page):
        assert "computed by the project's fast COCO evaluator (" in text.replace('&#39;', "'")
        assert 'pycocotools via mmdet CocoMetric' not in text


def _headings(md: str, page: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The ## / ### headings of report.md and the <h2> / <h3> of report.html, in order, as (level, text)."""
    import html
    md_headings = [(len(m.group(1)), m.group(2)) for m in re.finditer(r'^(#{2,3}) (.*)$', md, re.M)]
    page_headings = [(int(m.group(1)), html.unescape(m.group(2)))
                     for m in re.finditer(r'<h([23])>(.*?)</h\1>', page)]
    return md_headings, page_headings


def test_markdown_and_html_have_the_same_sections_in_order(tmp_path):
    """Both files come from one section model: the same headings, in the same order."""
    from custom.benchmark.render import write_report
    models = [_model('rtmdet_tiny', 0.861, 41.2, evaluator='pycocotools'), _model('ssdlite', 0.702, 18.4)]
    report = {'title': 'Unit benchmark', 'environment': dict(ENV), 'models': models,
              'failures': [{'name': 'broken', 'config': 'configs/bccd/broken.py',
                            'error': 'ValueError: bad\nsecond line'}],
              'settings': dict(SETTINGS)}
    old = {'environment': dict(ENV), 'models': [_model('rtmdet_tiny', 0.800, 50.0)]}
    paths = write_report(report, tmp_path, old=old, old_path='old/report.json')
    md, page = paths['md'].read_text(), paths['html'].read_text()
    md_headings, page_headings = _headings(md, page)
    assert md_headings == page_headings
    sections = [text for level, text in md_headings if level == 2]
    assert sections == ['Results', 'Failures', 'Comparison with old/report.json', *SECTIONS[1:]]
    assert [text for level, text in md_headings if level == 3] == ['rtmdet_tiny', 'ssdlite'] * 2
    assert '- `configs/bccd/broken.py`: ValueError: bad\n' in md  # the first line of the error
    assert '<pre>ValueError: bad\nsecond line</pre>' in page  # all of it
    assert 'The machines differ' not in md  # same machine
    # each model's evaluator is named where they differ
    assert "pycocotools' COCOeval for rtmdet_tiny; the project's fast COCO evaluator" in md
    assert 'same numbers) for ssdlite.' in md
    # no curves or pictures: no image in either, the HTML says so where the curves would be
    curves_md = md.split('## Training curves')[1].split('## Method')[0]
    assert '![' not in curves_md and 'curves of ssdlite' in curves_md
    assert page.count('no image') == 2 and 'src="data:image/jpeg' not in page


def test_html_escapes_names_and_errors(tmp_path):
    from custom.benchmark.render import write_report
    evil = '<script>alert(1)</script>'
    report = {'title': f'Bench {evil}', 'environment': dict(ENV), 'settings': dict(SETTINGS),
              'models': [_model(evil, 0.5, 10.0, curves_png=None, curves_note=f'no curves for {evil}')],
              'failures': [{'name': 'x', 'config': f'configs/{evil}.py', 'error': f'KeyError: {evil} & <b>'}]}
    paths = write_report(report, tmp_path)
    page = paths['html'].read_text()
    assert '<script' not in page and '<b>' not in page
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in page and '&amp; &lt;b&gt;' in page
    assert page.count('&lt;script&gt;') >= 6  # title, tables, headings, the curves note, the failure
    assert f'| {evil} |' in paths['md'].read_text()  # the Markdown keeps the name as it is
    assert json.loads(paths['json'].read_text())['models'][0]['name'] == evil


def test_schedule_options_compress_the_schedule():
    from custom.benchmark.schedule import schedule_options
    config = 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb8-50e_bccd.py'
    base = _read(config)
    opts = schedule_options(base, 10)
    cfg = _read(config, opts)
    assert cfg.train_cfg.max_epochs == 10 and cfg.train_cfg.dynamic_intervals is None
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == base.param_scheduler[0].end  # iteration-based warm-up unchanged
    assert (cosine.begin, cosine.end, cosine.T_max) == (0, 10, 10)
    switch = [h for h in cfg.custom_hooks if h.type == 'PipelineSwitchHook'][0]
    assert switch.switch_epoch == 9  # 45 of 50 -> 9 of 10
    assert schedule_options(base, 50) == ['train_cfg.max_epochs=50']
    ssd = _read(CONFIGS[1], schedule_options(_read(CONFIGS[1]), 1))
    assert ssd.train_cfg.val_interval == 1  # validates at least once

    from mmengine.config import Config

    from custom.engine.config import parse_cfg_options
    steps = Config(dict(train_cfg=dict(max_epochs=24, val_interval=2), param_scheduler=[
        dict(type='LinearLR', by_epoch=False, begin=0, end=100),
        dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 22])]))
    steps.merge_from_dict(parse_cfg_options(schedule_options(steps, 6)))
    assert steps.param_scheduler[1].milestones == [4, 6] and steps.param_scheduler[1].end == 6
    assert steps.param_scheduler[0].end == 100 and steps.train_cfg.val_interval == 2


def test_work_dir_states(tmp_path):
    """Reuse a finished work dir, refuse a stale or foreign one, without running anything."""
    import torch

    from custom.benchmark import BenchmarkError
    from custom.benchmark.runner import RUN_FILE, ensure_trained
    work = tmp_path / 'w'
    work.mkdir()
    torch.save({'meta': {}}, work / 'epoch_3.pth')
    with pytest.raises(BenchmarkError, match='did not start'):  # e.g. still being trained elsewhere
        ensure_trained(CONFIGS[0], work, ['train_cfg.max_epochs=5'], 5)
    torch.save({'meta': {}}, work / 'epoch_5.pth')
    assert ensure_trained(CONFIGS[0], work, ['x=1'], 5) == ('reused', work / 'epoch_5.pth')
    (work / RUN_FILE).write_text(json.dumps({'config': CONFIGS[0], 'options': ['x=1'], 'seed': 0}))
    assert ensure_trained(CONFIGS[0], work, ['x=1'], 5)[0] == 'reused'
    with pytest.raises(BenchmarkError, match='other settings'):
        ensure_trained(CONFIGS[0], work, ['x=2'], 5)


def test_interrupted_work_dir_is_resumed_and_a_live_one_left_alone(tmp_path, monkeypatch):
    """Only the subprocess is replaced: the command built for an interrupted run has --resume."""
    import torch

    import custom.benchmark.runner as runner
    from custom.apis import entry_command
    from custom.benchmark import BenchmarkError
    work = tmp_path / 'w'
    work.mkdir()
    torch.save({'meta': {}}, work / 'epoch_3.pth')
    (work / runner.RUN_FILE).write_text(json.dumps({'config': CONFIGS[0], 'options': ['x=1'], 'seed': 0}))
    (work / runner.LOCK_FILE).write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(BenchmarkError, match='being trained by another benchmark'):
        runner.ensure_trained(CONFIGS[0], work, ['x=1'], 5, show_progress=False)
    (work / runner.LOCK_FILE).write_text('999999999')  # a benchmark that was killed: stale lock
    calls = []

    def fake_train(command, log_path, env=None, progress=None, epochs=None):
        calls.append(list(command))
        assert (work / runner.LOCK_FILE).read_text() == str(os.getpid())
        torch.save({'meta': {}}, work / 'epoch_5.pth')
    monkeypatch.setattr(runner, 'run_logged', fake_train)
    assert runner.ensure_trained(CONFIGS[0], work, ['x=1'], 5, show_progress=False) == ('resumed', work / 'epoch_5.pth')
    assert calls == [entry_command('train', [CONFIGS[0], '--work-dir', str(work), '--seed', '0', '--resume',
                                             '--cfg-options', 'x=1'])]
    assert calls[0][1:3] == ['-m', 'custom.apis.train']  # the entry point, never a path under tools/
    assert not (work / runner.LOCK_FILE).exists()


def test_bad_config_path_fails_naming_the_file(tmp_path):
    result = run_tool(BENCHMARK, '--configs', CONFIGS[0], 'configs/bccd/no_such_model.py',
                      '--out', str(tmp_path / 'r'), timeout=120)
    assert result.returncode != 0
    assert 'configs/bccd/no_such_model.py' in result.stderr and 'no such config' in result.stderr
    assert not (tmp_path / 'r').exists()


def test_presets_list_configs_at_run_time():
    from custom.benchmark.presets import resolve_configs
    bccd = resolve_configs(presets=['cpu-bccd'])
    assert bccd == ['configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb8-50e_bccd.py',  # offline: from scratch only
                    'configs/bccd/ssdlite_mobilenetv2-scratch_cpu-1xb8-60e_bccd.py',
                    'configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py',
                    'configs/bccd/yolov3_mobilenetv2-scratch_cpu-ms-416_1xb8-36e_bccd.py']
    assert resolve_configs(presets=['cpu-face-mask'])[-1] == (  # not the -balanced 60-minute recipe
        'configs/face_mask/yolov3_mobilenetv2-scratch_cpu-ms-416_1xb8-36e_face_mask.py')
    assert resolve_configs(presets=['finetune-bccd']) == [
        'configs/bccd/rtmdet_tiny-finetune_cpu-320_1xb8-20e_bccd.py',
        'configs/bccd/ssdlite_mobilenetv2-finetune_cpu-1xb8-20e_bccd.py',
        'configs/bccd/yolov3_mobilenetv2-finetune_cpu-320_1xb8-12e_bccd.py']
    both = resolve_configs([CONFIGS[0]], ['cpu-all'])
    assert both[0] == CONFIGS[0] and set(bccd) <= set(both) and len(both) == len(set(both))


# --------------------------------------------------------------------------- the real CLI

@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    from custom.datasets.coco_writer import write_coco_splits
    tmp = tmp_path_factory.mktemp('bench')
    write_coco_splits(SAMPLE, tmp / 'bccd_sample')
    env = {'BCCD_ROOT': f'{tmp}/bccd_sample/'}
    cmd = [BENCHMARK, '--configs', *CONFIGS, '--work-root', str(tmp / 'work'), *FAST]
    first = run_tool(*cmd, '--out', str(tmp / 'r1'), env=env, timeout=1800)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
    ckpts = {p: p.stat().st_mtime_ns for p in (tmp / 'work').glob('*/epoch_1.pth')}
    second = run_tool(*cmd, '--out', str(tmp / 'r2'), '--compare', str(tmp / 'r1' / 'report.json'), env=env,
                      timeout=1800)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-5000:]
    return tmp, first, second, ckpts


@pytest.mark.slow
def test_benchmark_cli_reports_every_section_with_real_numbers(bench):
    tmp, first, _, _ = bench
    out = tmp / 'r1'
    report = json.loads((out / 'report.json').read_text())
    assert report['failures'] == []
    assert [m['name'] for m in report['models']] == list(NAMES)
    for m in report['models']:
        assert m['training'] == 'trained' and m['epochs'] == 1
        assert m['evaluator'] == 'fast'  # the test entry point's default evaluator, named in the Method
        assert 0.0 <= m['mAP50'] <= 1.0 and 0.0 <= m['mAP50:95'] <= m['mAP50']
        assert set(m['per_class_AP50']) == set(CLASSES)
        assert all(v is None or 0.0 <= v <= 1.0 for v in m['per_class_AP50'].values())
        assert m['params'] > 0 and m['flops'] > 0 and m['ms_per_img'] > 0 and m['train_img_per_s'] > 0
        assert len(m['ms_per_img_runs']) == 3 and len(m['train_step_s_runs']) == 2
        assert m['train_wall_s'] is not None and m['train_wall_s'] >= 0
        assert re.fullmatch(r'\d+x\d+', m['input_size']) and m['train_images'] == 32 and m['test_images'] == 12
        assert _png_size(out / m['curves_png']) == (1100, 400)
        assert len(m['predictions']) == 3
        for rel in m['predictions']:
            from PIL import Image
            with Image.open(out / rel) as img:
                assert img.size == (2 * 640, 480)  # ground truth | prediction
    assert max(m['mAP50'] for m in report['models']) > 0  # detections matched ground truth
    by_name = {m['name']: m for m in report['models']}
    assert by_name[NAMES[0]]['batch_size'] == 4 and by_name[NAMES[1]]['batch_size'] == 8
    assert by_name[NAMES[0]]['input_size'] == '320x320' and by_name[NAMES[1]]['input_size'] == '320x320'
    assert by_name[NAMES[1]]['params'] > by_name[NAMES[0]]['params'] * 0.5  # both a few million
    env = report['environment']
    assert env['cpu_count'] >= 1 and env['versions']['mmdet'] == '3.3.0' and env['cpu']
    assert _png_size(out / 'speed_vs_map.png')[0] > 0 and _png_size(out / 'per_class_ap.png')[0] > 0

    md, page = (out / 'report.md').read_text(), (out / 'report.html').read_text()
    for title in SECTIONS:
        assert f'## {title}' in md and f'<h2>{title}</h2>' in page
    assert 'Comparison' not in md
    for m in report['models']:
        for text in (m['name'], f"{m['mAP50']:.3f}", f"{m['ms_per_img']:.1f}", f"{m['train_img_per_s']:.1f}"):
            assert text in md and text in page
    assert page.count('data:image/jpeg;base64,') == 6 and page.count('data:image/png;base64,') == 4
    assert 'it/s' in first.stderr or '%|' in first.stderr  # tqdm progress


@pytest.mark.slow
def test_benchmark_rerun_reuses_work_dirs_and_compares(bench):
    tmp, _, second, ckpts = bench
    assert len(ckpts) == 2
    assert {p: p.stat().st_mtime_ns for p in ckpts} == ckpts  # not retrained
    from custom.apis import entry_command
    for name, config in zip(NAMES, CONFIGS):
        train_log = (tmp / 'work' / name / 'benchmark_train.log').read_text()
        # one training command (the train entry point, its command line atop the run), from the first run
        assert train_log.count(f"$ {' '.join(entry_command('train', [config]))} ") == 1
        test_log = (tmp / 'work' / name / 'benchmark_test.log').read_text()
        assert test_log.count(f"$ {' '.join(entry_command('test', [config]))} ") == 1
    report = json.loads((tmp / 'r2' / 'report.json').read_text())
    assert [m['training'] for m in report['models']] == ['reused', 'reused']
    first = json.loads((tmp / 'r1' / 'report.json').read_text())
    for old, new in zip(first['models'], report['models']):
        assert new['mAP50'] == old['mAP50']  # same checkpoint, same evaluation
    rows = {r['name']: r for r in report['comparison']['rows']}
    assert set(rows) == set(NAMES) and all(r['status'] == 'changed' for r in rows.values())
    assert all(r['mAP50']['delta'] == 0 for r in rows.values())
    md = (tmp / 'r2' / 'report.md').read_text()
    assert f"## Comparison with {tmp / 'r1' / 'report.json'}" in md
    assert '<h2>Comparison with' in (tmp / 'r2' / 'report.html').read_text()
    assert md.count('(+0.000)') >= 2
    assert 'The machines differ' not in md  # same machine: no warning
    assert os.path.getsize(tmp / 'r2' / 'report.html') > 10_000
