# RetinaNet R50-FPN on one GPU at mmdet's 1333x800, fine-tuned from mmdet's COCO model: its recipe
# (the first base) on the bccd splits.
# Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:
#   python tools/misc/make_configs.py data/bccd --models retinanet_r50_fpn_1xb8-24e
_base_ = ['../_base_/recipes/retinanet_r50_fpn_1xb8-24e.py', '../_base_/datasets/bccd.py']

model = dict(bbox_head=dict(num_classes={{_base_.bccd_num_classes}}))
train_dataloader = dict(dataset={{_base_.bccd_train}})
val_dataloader = dict(dataset={{_base_.bccd_val}})
test_dataloader = dict(dataset={{_base_.bccd_test}})
val_evaluator = {{_base_.bccd_val_evaluator}}
test_evaluator = {{_base_.bccd_test_evaluator}}
