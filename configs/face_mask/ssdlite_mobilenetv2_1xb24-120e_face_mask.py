# SSDLite MobileNetV2 on one GPU at 320x320, fine-tuned from mmdet's COCO model: its recipe (the
# first base) on the face_mask splits.
# Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:
#   python tools/misc/make_configs.py data/face_mask --models ssdlite_mobilenetv2_1xb24-120e --palette 255,187,0 60,179,113 220,20,60
_base_ = ['../_base_/recipes/ssdlite_mobilenetv2_1xb24-120e.py', '../_base_/datasets/face_mask.py']

model = dict(bbox_head=dict(num_classes={{_base_.face_mask_num_classes}}))
train_dataloader = dict(dataset=dict(dataset={{_base_.face_mask_train}}))
val_dataloader = dict(dataset={{_base_.face_mask_val}})
test_dataloader = dict(dataset={{_base_.face_mask_test}})
val_evaluator = {{_base_.face_mask_val_evaluator}}
test_evaluator = {{_base_.face_mask_test_evaluator}}
