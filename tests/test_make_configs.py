"""tools/misc/make_configs.py: what it writes for a dataset, the committed configs it reproduces, and
the input it refuses. Each run happens in a temporary folder laid out like the repository root."""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, write_image
from custom.datasets.config_writer import (ConfigWriterError, config_root, default_palette, recipe_summary,
                                           select_recipes)

TOOL = 'tools/misc/make_configs.py'
RECIPES = sorted(p.stem for p in (REPO / 'configs/_base_/recipes').glob('*.py'))
WRAPPED = 'ssdlite_mobilenetv2-scratch_cpu-1xb8-60e'  # mmdet's base wraps its train set in a RepeatDataset
PLAIN = 'rtmdet_tiny-scratch_cpu-320_1xb8-50e'        # no wrapper


def _make_configs():
    spec = importlib.util.spec_from_file_location('make_configs_cli', REPO / TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _workspace(root: Path) -> Path:
    """``root`` laid out like the repository: tools/ and configs/_base_/recipes/ linked in."""
    (root / 'configs' / '_base_').mkdir(parents=True)
    (root / 'tools').symlink_to(REPO / 'tools')
    (root / 'configs' / '_base_' / 'recipes').symlink_to(REPO / 'configs' / '_base_' / 'recipes')
    return root


def _write_coco(path: Path, categories: list[tuple[int, str]], images: list[tuple[str, int]] = ()) -> None:
    """A COCO file; each image is (file name, category id of its one box)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        'images': [{'id': i + 1, 'file_name': name, 'width': 64, 'height': 48} for i, (name, _) in enumerate(images)],
        'annotations': [{'id': i + 1, 'image_id': i + 1, 'category_id': cat, 'bbox': [8, 6, 20, 16], 'area': 320,
                         'iscrowd': 0} for i, (_, cat) in enumerate(images)],
        'categories': [{'id': i, 'name': name, 'supercategory': 'none'} for i, name in categories]}))


def _fake_dataset(data_dir: Path, names: tuple[str, ...], splits=('train', 'val', 'test')) -> None:
    for split in splits:
        _write_coco(data_dir / 'annotations' / f'{split}.json', list(enumerate(names, 1)))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file() and 'recipes' not in p.parts and 'tools' not in p.parts}


# --- a tiny dataset: the values written by hand ---------------------------------------------------------------

TINY_BASE = """\
# tiny_set (2 classes): the COCO JSON in data/Tiny-Set/ written by
# tools/dataset_converters/voc2coco.py.
# Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:
#   python tools/misc/make_configs.py data/Tiny-Set
# Names carry a `tiny_set_` prefix so this file can stand as a second _base_ beside an mmdet
# model config (mmengine forbids duplicate keys among bases); model configs wire them in.
tiny_set_root = '{{$TINY_SET_ROOT:data/Tiny-Set/}}'  # the one data root: env var TINY_SET_ROOT, default data/Tiny-Set/
tiny_set_metainfo = dict(  # classes: the categories of annotations/*.json, by id
    classes=('zebra', 'ant'),
    palette=[(255, 187, 0), (220, 20, 60)])
tiny_set_num_classes = 2
tiny_set_train = dict(
    type='CocoDataset', data_root=tiny_set_root, metainfo=tiny_set_metainfo,
    ann_file='annotations/train.json', data_prefix=dict(img='images/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=0))
tiny_set_val = dict(
    type='CocoDataset', data_root=tiny_set_root, metainfo=tiny_set_metainfo,
    ann_file='annotations/val.json', data_prefix=dict(img='images/'), test_mode=True)
tiny_set_test = dict(
    type='CocoDataset', data_root=tiny_set_root, metainfo=tiny_set_metainfo,
    ann_file='annotations/test.json', data_prefix=dict(img='images/'), test_mode=True)
tiny_set_val_evaluator = dict(
    type='CocoMetric', ann_file=tiny_set_root + 'annotations/val.json', metric='bbox', classwise=True)
tiny_set_test_evaluator = dict(
    type='CocoMetric', ann_file=tiny_set_root + 'annotations/test.json', metric='bbox', classwise=True)
"""

TINY_WRAPPED = """\
# SSDLite-MobileNetV2 at 320x320 from scratch on a 2-core CPU: its recipe (the first base) on the
# tiny_set splits.
# Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:
#   python tools/misc/make_configs.py data/Tiny-Set --models ssdlite_mobilenetv2-scratch_cpu-1xb8-60e
_base_ = ['../_base_/recipes/ssdlite_mobilenetv2-scratch_cpu-1xb8-60e.py',
          '../_base_/datasets/tiny_set.py']

model = dict(bbox_head=dict(num_classes={{_base_.tiny_set_num_classes}}))
train_dataloader = dict(dataset=dict(dataset={{_base_.tiny_set_train}}))
val_dataloader = dict(dataset={{_base_.tiny_set_val}})
test_dataloader = dict(dataset={{_base_.tiny_set_test}})
val_evaluator = {{_base_.tiny_set_val_evaluator}}
test_evaluator = {{_base_.tiny_set_test_evaluator}}
"""


@pytest.fixture()
def tiny(tmp_path, monkeypatch) -> Path:
    """A workspace (the current folder) with data/Tiny-Set: classes zebra (id 1) and ant (id 2), real images."""
    root = _workspace(tmp_path)
    data = root / 'data' / 'Tiny-Set'
    split_images = {'train': [('a.png', 1), ('b.png', 2)], 'val': [('c.png', 2)], 'test': [('d.png', 1)]}
    for split, images in split_images.items():
        _write_coco(data / 'annotations' / f'{split}.json', [(2, 'ant'), (1, 'zebra')], images)  # not in id order
        for name, _ in images:
            write_image(data / 'images' / name, 64, 48)
    monkeypatch.chdir(root)
    return root


def test_tiny_dataset_gets_the_hand_written_base_and_every_config_works(tiny, capsys):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    from custom.engine.config_check import check_config
    from custom.engine.preflight import check_annotations
    assert _make_configs()(['data/Tiny-Set']) == 0
    printed = capsys.readouterr().out
    assert 'next: python tools/train.py configs/tiny_set/rtmdet_tiny-finetune_cpu-320_1xb8-20e_tiny_set.py' in printed
    assert (tiny / 'configs/_base_/datasets/tiny_set.py').read_text() == TINY_BASE
    assert (tiny / f'configs/tiny_set/{WRAPPED}_tiny_set.py').read_text() == TINY_WRAPPED
    written = sorted(p.name for p in (tiny / 'configs/tiny_set').iterdir())
    assert written == [f'{r}_tiny_set.py' for r in RECIPES]
    register_all_modules()
    for name in written:
        cfg = Config.fromfile(f'configs/tiny_set/{name}')
        assert check_config(cfg) == [], name
        notes = []
        assert check_annotations(cfg, 'full', notes=notes) == [], name
        assert notes == ['4 images (0.0 MiB) checked to exist, 4 decoded']
        assert cfg.model.bbox_head.num_classes == 2
        for split, size in (('train', 2), ('val', 1), ('test', 1)):
            dataset = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
            inner = dataset.dataset if hasattr(dataset, 'times') else dataset  # RepeatDataset
            assert len(inner) == size and inner.metainfo['classes'] == ('zebra', 'ant'), (name, split)
            assert inner.metainfo['palette'] == [(255, 187, 0), (220, 20, 60)]
    plain = Config.fromfile(f'configs/tiny_set/{PLAIN}_tiny_set.py')
    assert plain.train_dataloader.dataset.ann_file == 'annotations/train.json'
    assert plain.test_evaluator.ann_file == 'data/Tiny-Set/annotations/test.json'


def test_without_test_json_the_configs_test_on_val(tmp_path, monkeypatch):
    from mmengine.config import Config
    root = _workspace(tmp_path)
    _fake_dataset(root / 'data' / 'cells', ('a', 'b', 'c', 'd'), splits=('train', 'val'))
    monkeypatch.chdir(root)
    assert _make_configs()(['data/cells', '--models', PLAIN, '--palette', '1,2,3', '4,5,6', '7,8,9', '10,11,12']) == 0
    base = (root / 'configs/_base_/datasets/cells.py').read_text()
    assert "cells_test = dict(  # no annotations/test.json: tests on val\n" in base
    assert "cells_test_evaluator = dict(  # no annotations/test.json: tests on val\n" in base
    assert '#   python tools/misc/make_configs.py data/cells --palette 1,2,3 4,5,6 7,8,9 10,11,12\n' in base
    cfg = Config.fromfile(f'configs/cells/{PLAIN}_cells.py')
    assert cfg.test_dataloader.dataset.ann_file == 'annotations/val.json'
    assert cfg.test_evaluator.ann_file == 'data/cells/annotations/val.json'
    assert cfg.test_dataloader.dataset.metainfo == dict(classes=('a', 'b', 'c', 'd'),
                                                        palette=[(1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12)])


# --- the committed configs are the tool's output -------------------------------------------------------------

COMMITTED = {'bccd': ('Platelets', 'RBC', 'WBC'),
             'face_mask': ('mask_weared_incorrect', 'with_mask', 'without_mask')}


def _header_command(path: Path) -> str:
    lines = [line[4:] for line in path.read_text().splitlines() if line.startswith('#   python ' + TOOL)]
    assert len(lines) == 1, f'{path}: no (or more than one) make_configs command in its header'
    return lines[0]


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    assert argv[:2] == ['python', TOOL]
    return subprocess.run([sys.executable, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('name', sorted(COMMITTED))
def test_committed_configs_are_reproduced_by_their_header_command(name, tmp_path):
    root = _workspace(tmp_path)
    _fake_dataset(root / 'data' / name, COMMITTED[name])
    base = REPO / 'configs/_base_/datasets' / f'{name}.py'
    command = _header_command(base)
    result = _run(command, root)
    assert result.returncode == 0, result.stderr[-3000:]
    stale = 'differs from what its header command writes: run that command with --force'
    assert (root / 'configs/_base_/datasets' / f'{name}.py').read_bytes() == base.read_bytes(), f'{base} {stale}'
    committed = sorted(p for p in (REPO / 'configs' / name).glob(f'*_{name}.py'))  # not the *-sample demos
    assert [p.name for p in committed] == [f'{r}_{name}.py' for r in RECIPES], 'one config per recipe'
    for path in committed:
        assert (root / 'configs' / name / path.name).read_bytes() == path.read_bytes(), f'{path} {stale}'
        recipe = path.name[:-len(f'_{name}.py')]
        palette = command.partition(' --palette')[2]
        assert _header_command(path) == f'python {TOOL} data/{name} --models {recipe}' + (
            f' --palette{palette}' if palette else '')


def test_a_model_config_header_command_reproduces_it_alone(tmp_path):
    root = _workspace(tmp_path)
    _fake_dataset(root / 'data' / 'face_mask', COMMITTED['face_mask'])
    config = REPO / 'configs/face_mask/ssd300_1xb8-60e_face_mask.py'
    result = _run(_header_command(config), root)
    assert result.returncode == 0, result.stderr[-3000:]
    written = {k: v for k, v in _files(root).items() if k.startswith('configs/')}
    base = 'configs/_base_/datasets/face_mask.py'
    assert written == {base: (REPO / base).read_bytes(),
                       'configs/face_mask/ssd300_1xb8-60e_face_mask.py': config.read_bytes()}


# --- refused input: exit 2, a message naming the file or option and the fix, nothing written ---------------

def _refused(argv: list[str], capsys) -> str:
    assert _make_configs()(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith('error: ')
    return captured.err


def test_missing_train_json(tmp_path, monkeypatch, capsys):
    root = _workspace(tmp_path)
    _fake_dataset(root / 'data' / 'x', ('a', 'b'), splits=('val', 'test'))
    monkeypatch.chdir(root)
    before = _files(root)
    err = _refused(['data/x'], capsys)
    assert 'data/x/annotations/train.json does not exist' in err and '--split 0.8,0.1,0.1' in err
    err = _refused(['data/y'], capsys)
    assert 'data/y does not exist: convert your data first: python tools/dataset_converters/voc2coco.py' in err
    assert _files(root) == before


def test_classes_that_differ_between_splits(tmp_path, monkeypatch, capsys):
    root = _workspace(tmp_path)
    _fake_dataset(root / 'data' / 'x', ('a', 'b'))
    _write_coco(root / 'data/x/annotations/test.json', [(1, 'a'), (2, 'c')])
    monkeypatch.chdir(root)
    err = _refused(['data/x'], capsys)
    assert ("data/x/annotations/test.json has categories ['a', 'c'] but data/x/annotations/train.json has "
            "['a', 'b']: every split must have the same ones; convert again with --classes a,b") in err
    assert not (root / 'configs/x').exists()


def test_unknown_model_name_lists_the_recipes(tmp_path, monkeypatch, capsys):
    root = _workspace(tmp_path)
    _fake_dataset(root / 'data' / 'x', ('a', 'b'))
    monkeypatch.chdir(root)
    err = _refused(['data/x', '--models', 'yolov3*', 'fasterrcnn'], capsys)
    assert "--models 'fasterrcnn' matches no recipe in configs/_base_/recipes" in err
    assert all(recipe in err for recipe in RECIPES) and 'cpu (recipes with _cpu in the name)' in err
    assert not (root / 'configs/x').exists()


def test_wrong_palette_count(tmp_path, monkeypatch, capsys):
    root = _workspace(tmp_path)
    _fake_dataset(root / 'data' / 'x', ('a', 'b', 'c'))
    monkeypatch.chdir(root)
    err = _refused(['data/x', '--palette', '1,2,3', '4,5,6'], capsys)
    assert ('--palette has 2 colours but data/x has 3 classes (a, b, c): give one R,G,B per class, '
            'in that order') in err
    assert "--palette '1,2' is not R,G,B" in _refused(['data/x', '--palette', '1,2', '3,4,5', '6,7,8'], capsys)
    assert not (root / 'configs/x').exists()


def test_existing_files_are_kept_without_force(tmp_path, monkeypatch, capsys):
    root = _workspace(tmp_path)
    _fake_dataset(root / 'data' / 'x', ('a', 'b'))
    monkeypatch.chdir(root)
    main = _make_configs()
    assert main(['data/x', '--models', WRAPPED]) == 0
    assert main(['data/x', '--models', WRAPPED]) == 0  # the same files again: nothing to overwrite
    assert f'unchanged: configs/x/{WRAPPED}_x.py' in capsys.readouterr().out
    edited = root / 'configs/x' / f'{WRAPPED}_x.py'
    edited.write_text(edited.read_text() + 'train_dataloader = dict(batch_size=2)  # edited by hand\n')
    before = _files(root)
    err = _refused(['data/x', '--models', WRAPPED, PLAIN], capsys)
    assert 'these files exist with other content; nothing was written (pass --force' in err
    assert f'  configs/x/{WRAPPED}_x.py' in err and PLAIN not in err
    assert _files(root) == before  # the edit kept, the other config not written
    assert main(['data/x', '--models', WRAPPED, PLAIN, '--force']) == 0
    assert 'edited by hand' not in edited.read_text() and (root / 'configs/x' / f'{PLAIN}_x.py').is_file()


def test_data_outside_the_current_folder_or_without_out_beside_base(tmp_path, monkeypatch, capsys):
    root = _workspace(tmp_path / 'repo')
    _fake_dataset(tmp_path / 'elsewhere', ('a',))
    monkeypatch.chdir(root)
    err = _refused([str(tmp_path / 'elsewhere')], capsys)
    assert f'{tmp_path / "elsewhere"} is outside the current folder' in err and 'ln -s' in err
    _fake_dataset(root / 'data' / 'x', ('a',))
    err = _refused(['data/x', '--out', 'out/x'], capsys)
    assert 'out/_base_/recipes does not exist: --out must be a folder beside configs/_base_/' in err


# --- the pieces -------------------------------------------------------------------------------------------

def test_config_root_is_relative_and_slash_terminated(tmp_path):
    assert config_root('./data//bccd', str(tmp_path)) == 'data/bccd/'
    assert config_root(str(tmp_path / 'data' / 'bccd') + '/', str(tmp_path)) == 'data/bccd/'
    with pytest.raises(ConfigWriterError, match='outside the current folder'):
        config_root('/somewhere/else', str(tmp_path))
    with pytest.raises(ConfigWriterError, match='holds only letters'):
        config_root('data/my data', str(tmp_path))


def test_default_palette():
    assert default_palette(3) == ((255, 187, 0), (220, 20, 60), (30, 144, 255))
    many = default_palette(60)
    assert len(set(many)) == 60 and all(0 <= v <= 255 and isinstance(v, int) for c in many for v in c)
    assert many[:17] == default_palette(17) and many == default_palette(60)


def test_model_names_groups_and_patterns():
    available = ['a_cpu-1', 'b_gpu', 'yolo_cpu', 'yolo_x']
    assert select_recipes(['cpu'], available, 'r') == ['a_cpu-1', 'yolo_cpu']
    assert select_recipes(['gpu'], available, 'r') == ['b_gpu', 'yolo_x']
    assert select_recipes(['yolo*', 'b_gpu.py'], available, 'r') == ['b_gpu', 'yolo_cpu', 'yolo_x']
    assert select_recipes(['all'], available, 'r') == available


def test_recipe_summary_is_the_first_sentence_without_asides(tmp_path):
    path = tmp_path / 'r.py'
    path.write_text("# Net-S at 320 px (mmdet's 320 px anchors) from scratch on a\n# CPU: for small objects. "
                    "More.\n_base_ = 'x.py'\n# not this\n")
    assert recipe_summary(str(path)) == 'Net-S at 320 px from scratch on a CPU'
    path.write_text("_base_ = 'x.py'\n")
    assert recipe_summary(str(path)) == 'the r recipe'


def test_the_library_imports_no_heavy_package():
    code = ('import sys, custom.datasets.config_writer\n'
            'print(sorted({m.split(".")[0] for m in sys.modules} & {"torch", "mmdet", "mmcv", "mmengine"}))')
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, 'PYTHONPATH': str(REPO)})
    assert result.returncode == 0 and result.stdout.strip() == '[]', result.stderr[-2000:]
