# Kaggle face-mask detection (3 classes) as COCO JSON from tools/dataset_converters/voc2coco.py;
# it has no official split, so the converter makes one, reproducibly:
#   python tools/dataset_converters/voc2coco.py ../shared/datasets/face-mask --out-dir data/face_mask --split 0.7,0.15,0.15 --seed 0
# Names carry a `face_mask_` prefix so this file can stand as a second _base_ beside an mmdet
# model config (mmengine forbids duplicate keys among bases); model configs wire them in.
face_mask_root = '{{$FACE_MASK_ROOT:data/face_mask/}}'  # the one data root: env var FACE_MASK_ROOT, default data/face_mask/
face_mask_metainfo = dict(
    classes=('mask_weared_incorrect', 'with_mask', 'without_mask'),  # sorted, as the converter finds them
    palette=[(255, 187, 0), (60, 179, 113), (220, 20, 60)])
face_mask_num_classes = 3
face_mask_train = dict(  # the converter's 70% train split
    type='CocoDataset', data_root=face_mask_root, metainfo=face_mask_metainfo,
    ann_file='annotations/train.json', data_prefix=dict(img='images/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=0))
face_mask_val = dict(
    type='CocoDataset', data_root=face_mask_root, metainfo=face_mask_metainfo,
    ann_file='annotations/val.json', data_prefix=dict(img='images/'), test_mode=True)
face_mask_test = dict(
    type='CocoDataset', data_root=face_mask_root, metainfo=face_mask_metainfo,
    ann_file='annotations/test.json', data_prefix=dict(img='images/'), test_mode=True)
face_mask_val_evaluator = dict(
    type='CocoMetric', ann_file=face_mask_root + 'annotations/val.json', metric='bbox', classwise=True)
face_mask_test_evaluator = dict(
    type='CocoMetric', ann_file=face_mask_root + 'annotations/test.json', metric='bbox', classwise=True)
