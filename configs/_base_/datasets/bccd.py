# bccd (3 classes): the COCO JSON in data/bccd/ written by tools/dataset_converters/voc2coco.py.
# Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:
#   python tools/misc/make_configs.py data/bccd
# Names carry a `bccd_` prefix so this file can stand as a second _base_ beside an mmdet
# model config (mmengine forbids duplicate keys among bases); model configs wire them in.
bccd_root = '{{$BCCD_ROOT:data/bccd/}}'  # the one data root: env var BCCD_ROOT, default data/bccd/
bccd_metainfo = dict(  # classes: the categories of annotations/*.json, by id
    classes=('Platelets', 'RBC', 'WBC'),
    palette=[(255, 187, 0), (220, 20, 60), (30, 144, 255)])
bccd_num_classes = 3
bccd_train = dict(
    type='CocoDataset', data_root=bccd_root, metainfo=bccd_metainfo,
    ann_file='annotations/train.json', data_prefix=dict(img='images/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=0))
bccd_val = dict(
    type='CocoDataset', data_root=bccd_root, metainfo=bccd_metainfo,
    ann_file='annotations/val.json', data_prefix=dict(img='images/'), test_mode=True)
bccd_test = dict(
    type='CocoDataset', data_root=bccd_root, metainfo=bccd_metainfo,
    ann_file='annotations/test.json', data_prefix=dict(img='images/'), test_mode=True)
bccd_val_evaluator = dict(
    type='CocoMetric', ann_file=bccd_root + 'annotations/val.json', metric='bbox', classwise=True)
bccd_test_evaluator = dict(
    type='CocoMetric', ann_file=bccd_root + 'annotations/test.json', metric='bbox', classwise=True)
