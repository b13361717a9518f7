"""tools/kfold.py: stratified folds of train + val, one training per fold, resumable, the report and OOF score."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CLI_CONFIG, REPO, run_tool


def _pool(tmp_path: Path) -> tuple[Path, Path]:
    """train.json (4 images) and val.json (2 images) of one conversion; class 'b' is on images 2 and 5 only."""
    cats = [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}]
    images = [{'id': i, 'file_name': f'{i}.jpg', 'width': 10, 'height': 10} for i in range(1, 7)]
    anns = [{'id': i, 'image_id': i, 'category_id': 2 if i in (2, 5) else 1, 'bbox': [1, 1, 3, 3], 'area': 9,
             'iscrowd': 0} for i in range(1, 7)]
    train, val = tmp_path / 'train.json', tmp_path / 'val.json'
    train.write_text(json.dumps({'images': images[:4], 'annotations': anns[:4], 'categories': cats}))
    val.write_text(json.dumps({'images': images[4:], 'annotations': anns[4:], 'categories': cats}))
    return train, val


def test_folds_cover_the_pool_once_and_split_the_rare_class(tmp_path):
    from custom.experiments.folds import merge_pool, write_folds
    train, val = _pool(tmp_path)
    folds = write_folds(merge_pool(str(train), str(val)), 2, 0, tmp_path / 'folds')
    held_out = [sorted(im['id'] for im in json.loads(v.read_text())['images']) for _, v in folds]
    assert sorted(held_out[0] + held_out[1]) == [1, 2, 3, 4, 5, 6] and [len(h) for h in held_out] == [3, 3]
    assert [sorted({2, 5} & set(h)) != [] for h in held_out] == [True, True]  # 'b' in both held-out folds
    for train_file, val_file in folds:
        train_ids = {im['id'] for im in json.loads(train_file.read_text())['images']}
        val_ids = {im['id'] for im in json.loads(val_file.read_text())['images']}
        assert not train_ids & val_ids and len(train_ids | val_ids) == 6
    again = write_folds(merge_pool(str(train), str(val)), 2, 0, tmp_path / 'folds')
    assert [v.read_text() for _, v in again] == [v.read_text() for _, v in folds]


def test_pools_of_two_conversions_are_refused(tmp_path):
    from custom.experiments import ExperimentError
    from custom.experiments.folds import merge_pool
    train, val = _pool(tmp_path)
    data = json.loads(val.read_text())
    data['images'][0]['id'] = 1  # id 1 is 1.jpg in train.json
    val.write_text(json.dumps(data))
    with pytest.raises(ExperimentError, match=r'give image ids \[1\] to different files'):
        merge_pool(str(train), str(val))


def test_fold_files_replace_the_innermost_dataset_and_the_evaluator():
    from custom.engine.config import read_config
    from custom.experiments.kfold import split_options
    cfg = read_config(str(REPO / CLI_CONFIG))  # SSDLite: train set inside mmdet's RepeatDataset
    assert split_options(cfg, 'train', '/f/t.json') == ['train_dataloader.dataset.dataset.ann_file=/f/t.json']
    assert split_options(cfg, 'val', '/f/v.json') == ['val_dataloader.dataset.ann_file=/f/v.json',
                                                      'val_evaluator.ann_file=/f/v.json']


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    end = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, 'the run ended before ' + str(path)
        assert time.time() < end, f'{path} did not appear'
        time.sleep(0.5)


@pytest.mark.slow
def test_kfold_killed_mid_fold_resumes_there_then_reports_every_fold(sample_data_root, tmp_path):
    work = tmp_path / 'kf'
    args = [sys.executable, 'tools/kfold.py', CLI_CONFIG, '--k', '2', '--epochs', '2', '--work-dir', str(work)]
    env = {**os.environ, 'BCCD_ROOT': sample_data_root}
    proc = subprocess.Popen(args + ['--fold', '0'], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(work / 'fold0' / 'epoch_1.pth', proc)
        time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (work / 'fold0' / 'epoch_2.pth').exists()
    result = run_tool(*args[1:], env={'BCCD_ROOT': sample_data_root})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'fold 0: resumed' in result.stdout and 'fold 1: trained' in result.stdout
    train_log = (work / 'fold0' / 'benchmark_train.log').read_text()
    assert train_log.count('\n$ ') == 2 and '--resume' in train_log.split('\n$ ')[2].splitlines()[0]
    report = json.loads((work / 'kfold.json').read_text())
    assert [f['images_val'] for f in report['folds']] == [20, 20] and report['images'] == 40
    assert report['missing_folds'] == [] and report['oof'] is not None
    values = [f['mAP50'] for f in report['folds']]
    assert report['mean']['mAP50'] == pytest.approx(sum(values) / 2)
    assert set(report['per_class_AP50']) == {'Platelets', 'RBC', 'WBC'}
    oof = json.loads((work / 'oof' / 'metrics_oof.json').read_text())
    assert oof['counts']['images'] == 40 and oof['counts']['gt_boxes'] == 548  # the sample's train + val boxes
    assert (work / 'plots' / 'kfold_folds.png').stat().st_size > 0
    markdown = (work / 'kfold_report.md').read_text()
    assert '| **mean ± std** |' in markdown and '| **out-of-fold** | 40 |' in markdown

    gathered = run_tool(*args[1:], '--gather', env={'BCCD_ROOT': sample_data_root})
    assert gathered.returncode == 0 and 'fold 0:' not in gathered.stdout  # nothing trained again
    other = run_tool('tools/kfold.py', CLI_CONFIG, '--k', '3', '--epochs', '2', '--work-dir', str(work),
                     env={'BCCD_ROOT': sample_data_root})
    assert other.returncode == 2 and 'holds a K-fold run with other settings (k:' in other.stderr
