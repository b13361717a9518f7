# RTMDet-tiny at 320 px fine-tuned from mmdet's COCO detector on a 2-core CPU: its recipe (the first
# base) on the bccd splits.
# Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:
#   python tools/misc/make_configs.py data/bccd --models rtmdet_tiny-finetune_cpu-320_1xb8-20e
_base_ = ['../_base_/recipes/rtmdet_tiny-finetune_cpu-320_1xb8-20e.py',
          '../_base_/datasets/bccd.py']

model = dict(bbox_head=dict(num_classes={{_base_.bccd_num_classes}}))
train_dataloader = dict(dataset={{_base_.bccd_train}})
val_dataloader = dict(dataset={{_base_.bccd_val}})
test_dataloader = dict(dataset={{_base_.bccd_test}})
val_evaluator = {{_base_.bccd_val_evaluator}}
test_evaluator = {{_base_.bccd_test_evaluator}}
