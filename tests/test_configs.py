"""Every config loads, is consistent and builds its model; the checker catches broken ones."""
from pathlib import Path

import pytest
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from conftest import REPO
from custom.config_check import ConfigError, assert_config_consistent, check_config

CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)


def test_there_are_configs():
    assert CONFIGS, 'no configs found under configs/'


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_is_consistent_and_builds(path: Path):
    register_all_modules()
    cfg = Config.fromfile(str(path))
    assert check_config(cfg) == []
    assert 'custom.modules' in cfg.custom_imports['imports']
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_default_data_root_and_env_override(monkeypatch):
    path = str(CONFIGS[0])
    assert Config.fromfile(path).test_dataloader.dataset.data_root.startswith('data/')
    monkeypatch.setenv('BCCD_ROOT', '/elsewhere/bccd/')
    cfg = Config.fromfile(path)
    assert cfg.test_dataloader.dataset.data_root == '/elsewhere/bccd/'
    assert cfg.test_evaluator.ann_file == '/elsewhere/bccd/annotations/test.json'


def test_checker_names_each_inconsistency():
    cfg = Config.fromfile(str(CONFIGS[0]))
    cfg.model.bbox_head.num_classes = 80
    cfg.val_dataloader.dataset.metainfo = None
    cfg.test_evaluator.ann_file = 'data/other/test.json'
    with pytest.raises(ConfigError) as err:
        assert_config_consistent(cfg, 'my.py')
    message = str(err.value)
    assert ('model.bbox_head.num_classes is 80 but the dataset has 3 classes: '
            'set model.bbox_head.num_classes=3') in message
    assert 'val_dataloader.dataset has no metainfo.classes' in message
    assert "test_evaluator.ann_file is 'data/other/test.json'" in message


def test_converter_output_loads_through_the_config_dataset(tmp_path, monkeypatch):
    from mmdet.registry import DATASETS

    from conftest import SAMPLE
    from custom.voc import write_coco_splits
    write_coco_splits(SAMPLE, tmp_path / 'bccd')
    monkeypatch.setenv('BCCD_ROOT', f'{tmp_path}/bccd/')
    register_all_modules()
    cfg = Config.fromfile(str(REPO / 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb8-50e_bccd.py'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == 12 and dataset.metainfo['classes'] == ('Platelets', 'RBC', 'WBC')
    sample = dataset[0]['data_samples']
    assert sample.gt_instances.bboxes.shape[0] > 0 and sample.gt_instances.labels.max() <= 2
