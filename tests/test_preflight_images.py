"""Images before and during training: the default preflight sees every missing image and decodes small
datasets whole; an image that fails to load during training names itself and the fix."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SAMPLE

CONFIG = 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample.py'


@pytest.fixture
def damaged(tmp_path, monkeypatch):
    """The sample converted, then one train image deleted and another corrupted: (cfg, missing, corrupt)."""
    from mmengine.config import Config
    from custom.datasets.coco_writer import write_coco_splits
    shutil.copytree(SAMPLE, tmp_path / 'voc')
    root = tmp_path / 'bccd'
    write_coco_splits(tmp_path / 'voc', root)
    names = [r['file_name'] for r in json.loads((root / 'annotations' / 'train.json').read_text())['images']]
    missing, corrupt = root / 'images' / names[-1], root / 'images' / names[-2]
    (tmp_path / 'voc' / names[-1]).unlink()
    (tmp_path / 'voc' / names[-2]).write_bytes(b'\xff\xd8 cut short')
    monkeypatch.setenv('BCCD_ROOT', f'{root}/')
    cfg = Config.fromfile(str(REPO / CONFIG))
    cfg.work_dir = str(tmp_path / 'work')
    return cfg, missing, corrupt


def test_default_preflight_decodes_every_image_of_a_small_dataset(damaged, monkeypatch):
    from custom.engine import preflight as module
    cfg, missing, corrupt = damaged
    monkeypatch.setattr(module, 'SAMPLE_IMAGES', 0)  # whatever a sample would hold: all are decoded
    with pytest.raises(module.PreflightError) as err:
        module.preflight(cfg, n_params=10**6)
    message = str(err.value)
    assert f'{missing} (in {Path(cfg.train_dataloader.dataset.data_root)}/annotations/train.json) does not exist' \
        in message
    assert f'{corrupt} (in ' in message and 'does not decode as an image' in message


def test_a_large_dataset_still_gets_every_image_checked_to_exist(damaged, monkeypatch):
    from custom.engine import preflight as module
    cfg, missing, corrupt = damaged
    monkeypatch.setattr(module, 'SAMPLE_IMAGES', 0)
    monkeypatch.setattr(module, 'FULL_DECODE_BYTES', 0)  # "too large to decode whole": a (here empty) sample
    notes = []
    problems = module.check_annotations(cfg, 'sample', notes=notes)
    assert len(problems) == 1 and problems[0].startswith(f'{missing} (in ') and 'does not exist' in problems[0]
    assert notes == ['52 images (1.0 MiB) checked to exist, 0 decoded (0 a split: they total over 0 MiB; '
                     '--preflight full decodes all)']
    assert len(module.check_annotations(cfg, 'full')) == 2
    assert module.check_annotations(cfg, 'off') == []


def test_the_checked_loader_names_the_file_and_the_fix(tmp_path):
    import cv2
    from mmcv.transforms import LoadImageFromFile
    from custom.models.loading import CheckedLoadImageFromFile, ImageLoadError
    good = tmp_path / 'good.png'
    cv2.imwrite(str(good), np.full((4, 6, 3), 7, np.uint8))
    ours, theirs = CheckedLoadImageFromFile(), LoadImageFromFile()
    a, b = ours({'img_path': str(good)}), theirs({'img_path': str(good)})
    assert np.array_equal(a['img'], b['img']) and a['img_shape'] == b['img_shape'] == (4, 6)
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'\xff\xd8 nope')
    with pytest.raises(ImageLoadError) as err:
        ours({'img_path': str(bad)})
    assert str(err.value) == (f'{bad}: does not decode as an image (corrupt, truncated or not an image): fix or '
                              f'replace the file, or remove it from the annotations and re-run the converter; '
                              f'`tools/train.py --preflight full` checks every image before training')
    with pytest.raises(ImageLoadError, match=rf'^{tmp_path}/gone\.jpg: \[Errno 2\] No such file'):
        ours({'img_path': str(tmp_path / 'gone.jpg')})


def test_the_message_survives_a_dataloader_worker():
    import torch
    from custom.models.loading import ImageLoadError, image_load_message

    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, index):
            raise ImageLoadError('/data/x.jpg: does not decode as an image: fix it')
    with pytest.raises(ImageLoadError) as err:
        next(iter(torch.utils.data.DataLoader(Broken(), num_workers=1)))
    assert 'Traceback' in str(err.value)  # what the worker re-raises
    assert image_load_message(err.value) == '/data/x.jpg: does not decode as an image: fix it'
