"""InImageCopyPaste: copies of an image's own small boxes pasted at free places, class by class."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')

from mmdet.structures.bbox import HorizontalBoxes  # noqa: E402

from custom.datasets.copy_paste import InImageCopyPaste  # noqa: E402


def _results(boxes, labels, ignored=None, width=200, height=160):
    """A black image whose boxes hold a distinct pattern each, and mmdet's annotation keys."""
    img = np.zeros((height, width, 3), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        ys, xs = np.mgrid[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))]
        img[ys, xs] = np.stack([(xs * 7 + k * 40) % 251 + 1, (ys * 5) % 251 + 1, np.full_like(xs, 100 + k)], -1)
    return {'img': img, 'gt_bboxes': HorizontalBoxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)),
            'gt_bboxes_labels': np.array(labels, np.int64),
            'gt_ignore_flags': np.array(ignored if ignored is not None else [False] * len(labels), bool)}


def _rect(box):
    return int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))


def _overlap(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_one_copy_is_pasted_where_nothing_is_with_the_copied_pixels_and_the_rest_untouched():
    np.random.seed(0)
    results = _results([[30, 40, 42, 50]], [0])
    before = results['img'].copy()
    out = InImageCopyPaste(copies=[1], prob=1.0)(results)
    boxes = out['gt_bboxes'].numpy()
    assert boxes.shape == (2, 4)
    assert boxes[0].tolist() == [30, 40, 42, 50]
    x1, y1, x2, y2 = boxes[1].astype(int)
    assert (x2 - x1, y2 - y1) == (12, 10)
    assert not _overlap(_rect(boxes[0]), _rect(boxes[1]))
    assert np.array_equal(out['img'][y1:y2, x1:x2], before[40:50, 30:42])
    outside = np.ones(before.shape[:2], bool)
    outside[40:50, 30:42] = outside[y1:y2, x1:x2] = False
    assert not out['img'][outside].any()  # black everywhere else, as before
    assert out['gt_bboxes_labels'].tolist() == [0, 0]
    assert out['gt_ignore_flags'].tolist() == [False, False]


def test_copies_follow_the_class_counts_and_never_overlap():
    np.random.seed(1)
    results = _results([[10, 10, 20, 20], [50, 10, 60, 20], [90, 10, 100, 20]], [0, 1, 2])
    out = InImageCopyPaste(copies=[3, 0, 1], prob=1.0, tries=50)(results)
    assert out['gt_bboxes_labels'][:3].tolist() == [0, 1, 2]
    assert sorted(out['gt_bboxes_labels'][3:].tolist()) == [0, 0, 0, 2]
    rects = [_rect(b) for b in out['gt_bboxes'].numpy()]
    assert not any(_overlap(a, b) for i, a in enumerate(rects) for b in rects[i + 1:])


def test_ignored_and_large_boxes_are_not_copied_and_ignored_ones_are_not_covered():
    np.random.seed(2)
    # a 10x10 box to copy, an ignored (difficult) 8x8 box, a box wider than a quarter of the image
    results = _results([[5, 5, 15, 15], [100, 60, 108, 68], [20, 100, 80, 110]], [0, 0, 0],
                       ignored=[False, True, False])
    out = InImageCopyPaste(copies=[4], prob=1.0, tries=50)(results)
    boxes = out['gt_bboxes'].numpy()
    assert len(boxes) == 3 + 4
    for box in boxes[3:]:
        assert (box[2] - box[0], box[3] - box[1]) == (10, 10)  # only the small, not-ignored box is copied
        assert not _overlap(_rect(box), (100, 60, 108, 68))
    assert out['gt_ignore_flags'].tolist() == [False, True, False] + [False] * 4


def test_sub_pixel_boxes_move_by_whole_pixels():
    np.random.seed(3)
    results = _results([[10.5, 20.25, 20.5, 30.75]], [0])
    out = InImageCopyPaste(copies=[1], prob=1.0)(results)
    old, new = out['gt_bboxes'].numpy()
    shift = new - old
    assert shift[0] == shift[2] and shift[1] == shift[3]
    assert shift[0] == round(shift[0]) and shift[1] == round(shift[1])
    assert (new[2] - new[0], new[3] - new[1]) == (10.0, 10.5)


def test_at_most_max_pasted_copies_an_image():
    np.random.seed(4)
    results = _results([[10 + 30 * k, 10, 20 + 30 * k, 20] for k in range(5)], [0] * 5)
    out = InImageCopyPaste(copies=[3], prob=1.0, max_pasted=4, tries=50)(results)
    assert len(out['gt_bboxes']) == 5 + 4


def test_nothing_changes_without_a_free_place_or_when_not_drawn():
    np.random.seed(5)
    # every 6x6 place in a 10x10 image covers columns and rows 4-5, which the box itself holds
    results = _results([[0, 0, 6, 6]], [0], width=10, height=10)
    before = results['img'].copy()
    out = InImageCopyPaste(copies=[5], prob=1.0, max_size=1.0)(results)
    assert len(out['gt_bboxes']) == 1 and np.array_equal(out['img'], before)

    results = _results([[30, 40, 42, 50]], [0])
    before = results['img'].copy()
    out = InImageCopyPaste(copies=[5], prob=0.0)(results)
    assert len(out['gt_bboxes']) == 1 and np.array_equal(out['img'], before)


def test_an_image_without_boxes_passes_through():
    np.random.seed(6)
    results = _results([], [])
    out = InImageCopyPaste(copies=[2], prob=1.0)(results)
    assert len(out['gt_bboxes']) == 0 and not out['img'].any()


@pytest.mark.parametrize('kwargs, message', [
    (dict(copies=2), 'copies must be a list of whole numbers >= 0, one per class'),
    (dict(copies=[1, -1]), 'copies must be a list of whole numbers >= 0, one per class'),
    (dict(copies=[1.5]), 'e.g. copies=[2, 1, 1]'),
    (dict(copies=[1], prob=1.5), 'prob must be between 0 and 1, got 1.5'),
    (dict(copies=[1], max_size=0), 'max_size is a fraction of the image side in (0, 1], got 0'),
    (dict(copies=[1], tries=0), 'tries >= 1'),
])
def test_bad_arguments_say_what_is_expected(kwargs, message):
    with pytest.raises(ValueError, match='InImageCopyPaste: .*' + re.escape(message)):
        InImageCopyPaste(**kwargs)


def test_a_label_beyond_the_class_counts_is_named_and_the_image_is_left_as_it_was():
    np.random.seed(7)
    results = _results([[10, 10, 20, 20], [50, 50, 60, 60]], [0, 2])
    before = results['img'].copy()
    with pytest.raises(ValueError, match=r'a box has label 2 but copies gives 2 classes \(\[1, 1\]\); '
                                         r'give one count per class of the dataset'):
        InImageCopyPaste(copies=[1, 1], prob=1.0)(results)
    assert np.array_equal(results['img'], before)
    assert len(results['gt_bboxes']) == 2


def test_built_from_a_config_in_a_pipeline_it_packs_the_pasted_boxes():
    import custom.modules  # noqa: F401  registers the transform, as configs' custom_imports do
    from mmcv.transforms import Compose
    np.random.seed(8)
    pipeline = Compose([dict(type='mmdet.InImageCopyPaste', copies=[2], prob=1.0),
                        dict(type='mmdet.PackDetInputs', meta_keys=())])
    packed = pipeline(_results([[30, 40, 42, 50]], [0]))
    instances = packed['data_samples'].gt_instances
    assert len(instances) == 3
    assert instances.labels.tolist() == [0, 0, 0]
    assert packed['inputs'].shape == (3, 160, 200)
