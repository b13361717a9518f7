# face_mask (3 classes): the COCO JSON in data/face_mask/ written by
# tools/dataset_converters/voc2coco.py.
# Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:
#   python tools/misc/make_configs.py data/face_mask --palette 255,187,0 60,179,113 220,20,60
# Names carry a `face_mask_` prefix so this file can stand as a second _base_ beside an mmdet
# model config (mmengine forbids duplicate keys among bases); model configs wire them in.
face_mask_root = '{{$FACE_MASK_ROOT:data/face_mask/}}'  # the one data root: env var FACE_MASK_ROOT, default data/face_mask/
face_mask_metainfo = dict(  # classes: the categories of annotations/*.json, by id
    classes=('mask_weared_incorrect', 'with_mask', 'without_mask'),
    palette=[(255, 187, 0), (60, 179, 113), (220, 20, 60)])
face_mask_num_classes = 3
face_mask_train = dict(
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
