# YOLOv3 DarkNet-53 on one GPU, multi-scale 320-608 train / 608 test as mmdet, fine-tuned from COCO:
# its recipe (the first base) on the bccd splits.
# Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:
#   python tools/misc/make_configs.py data/bccd --models yolov3_d53_1xb8-ms-608-100e
_base_ = ['../_base_/recipes/yolov3_d53_1xb8-ms-608-100e.py', '../_base_/datasets/bccd.py']

model = dict(bbox_head=dict(num_classes={{_base_.bccd_num_classes}}))
train_dataloader = dict(dataset={{_base_.bccd_train}})
val_dataloader = dict(dataset={{_base_.bccd_val}})
test_dataloader = dict(dataset={{_base_.bccd_test}})
val_evaluator = {{_base_.bccd_val_evaluator}}
test_evaluator = {{_base_.bccd_test_evaluator}}
