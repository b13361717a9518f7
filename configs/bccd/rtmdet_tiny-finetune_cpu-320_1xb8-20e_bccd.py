# RTMDet-tiny at 320 px for BCCD, fine-tuned from COCO on a 2-core CPU: the shared recipe in
# configs/_base_/recipes/ (sizes halved, short schedule) on the BCCD splits.
_base_ = ['../_base_/recipes/rtmdet_tiny-finetune_cpu-320_1xb8-20e.py', '../_base_/datasets/bccd.py']

model = dict(bbox_head=dict(num_classes={{_base_.bccd_num_classes}}))
train_dataloader = dict(dataset={{_base_.bccd_train}})
val_dataloader = dict(dataset={{_base_.bccd_val}})
test_dataloader = dict(dataset={{_base_.bccd_test}})
val_evaluator = {{_base_.bccd_val_evaluator}}
test_evaluator = {{_base_.bccd_test_evaluator}}
