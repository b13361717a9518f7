"""custom.engine.config (the one place that reads configs and looks things up in them) and custom.apis."""
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import REPO
from custom.apis import ENTRY_POINTS, entry_command
from custom.engine.config import (coco_metrics, dataset_info, dataset_levels, innermost_dataset, parse_cfg_options,
                                  read_config, replace_type, train_ann_key)

WRAPPED = Config(dict(
    train_dataloader=dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict(
        type='MultiImageMixDataset', dataset=dict(type='CocoDataset', data_root='data/x/',
                                                  ann_file='annotations/train.json', data_prefix=dict(img='images/'),
                                                  metainfo=dict(classes=('a', 'b'), palette=[(1, 2, 3), (4, 5, 6)]))))),
    test_dataloader=dict(dataset=dict(type='CocoDataset', data_root='data/x/', ann_file='annotations/test.json',
                                      data_prefix=dict(img='/abs/images/'), metainfo=dict(classes=('a', 'b')))),
    test_evaluator=[dict(type='VOCMetric'), dict(type='CocoMetric', ann_file='data/x/annotations/test.json',
                                                  proposal_nums=(100, 1, 10))],
))


def test_innermost_dataset_and_training_annotation_key_walk_every_wrapper():
    assert innermost_dataset(WRAPPED.train_dataloader.dataset).type == 'CocoDataset'
    assert innermost_dataset(None) is None
    levels = [(key, level.type) for key, level in dataset_levels(WRAPPED.train_dataloader.dataset, 'd')]
    assert levels == [('d', 'RepeatDataset'), ('d.dataset', 'MultiImageMixDataset'),
                      ('d.dataset.dataset', 'CocoDataset')]
    assert train_ann_key(WRAPPED) == 'train_dataloader.dataset.dataset.dataset.ann_file'


def test_dataset_info_of_a_wrapped_train_split():
    info = dataset_info(WRAPPED, 'train')
    assert info == {'ann_file': 'data/x/annotations/train.json', 'img_root': 'data/x/images/', 'classes': ('a', 'b'),
                    'palette': [(1, 2, 3), (4, 5, 6)], 'max_dets': (100, 300, 1000)}


def test_dataset_info_of_the_test_split_follows_its_coco_metric():
    info = dataset_info(WRAPPED, 'test')
    assert info['ann_file'] == 'data/x/annotations/test.json'
    assert info['img_root'] == '/abs/images/'  # an absolute prefix is not joined to data_root
    assert info['max_dets'] == (1, 10, 100)  # CocoMetric's proposal_nums, sorted: COCOeval's maxDets
    assert info['palette'] is None
    with pytest.raises(KeyError, match='val_dataloader'):
        dataset_info(WRAPPED, 'val')


def test_coco_metrics_finds_the_coco_metric_in_any_evaluator_form():
    assert coco_metrics(None) == []
    assert coco_metrics(dict(type='CocoMetric')) == [dict(type='CocoMetric')]
    assert [m['type'] for m in coco_metrics(WRAPPED.test_evaluator)] == ['CocoMetric']


def test_replace_type_reaches_every_nested_dict_and_list():
    node = {'type': 'A', 'x': [{'type': 'B'}, ({'type': 'C', 'y': {'type': 'A'}},)], 'z': {'type': 'D'}}
    replace_type(node, ('A', 'C'), 'N')
    assert node == {'type': 'N', 'x': [{'type': 'B'}, ({'type': 'N', 'y': {'type': 'N'}},)], 'z': {'type': 'D'}}


def test_read_config_merges_options_parsed_as_the_tools_do(tmp_path):
    path = tmp_path / 'c.py'
    path.write_text("train_cfg = dict(max_epochs=12, val_interval=1)\nnames = ('a', 'b')\n")
    options = parse_cfg_options(['train_cfg.max_epochs=3', 'names=[x,y]'])
    assert options == {'train_cfg.max_epochs': 3, 'names': ['x', 'y']}
    cfg = read_config(str(path), options)
    assert cfg.train_cfg.max_epochs == 3 and cfg.train_cfg.val_interval == 1 and cfg.names == ['x', 'y']
    assert parse_cfg_options([]) == {}
    with pytest.raises(FileNotFoundError, match='no_such.py: no such config file'):
        read_config(str(tmp_path / 'no_such.py'))


def test_entry_command_runs_modules_not_tool_paths():
    assert entry_command('train', ['c.py']) == [sys.executable, '-m', 'custom.apis.train', 'c.py']
    assert ENTRY_POINTS['test'] == 'custom.apis.test'
    with pytest.raises(KeyError, match='unknown entry point'):
        entry_command('export')


@pytest.mark.parametrize('name', ['train', 'test'])
def test_tool_and_entry_point_take_the_same_arguments(name):
    tool = subprocess.run([sys.executable, f'tools/{name}.py', '--help'], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    module = subprocess.run(entry_command(name, ['--help']), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert tool.returncode == module.returncode == 0, tool.stderr + module.stderr
    usage = tool.stdout.replace(f'{name}.py', 'PROG')
    assert usage == module.stdout.replace(f'{name}.py', 'PROG')
    assert '--work-dir' in usage and '--cfg-options' in usage and '--launcher' in usage
