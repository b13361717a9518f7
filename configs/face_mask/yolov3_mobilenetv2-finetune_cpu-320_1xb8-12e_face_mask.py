# YOLOv3 MobileNetV2 at 320 px fine-tuned from mmdet's COCO detector on a 2-core CPU: its recipe
# (the first base) on the face_mask splits.
# Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:
#   python tools/misc/make_configs.py data/face_mask --models yolov3_mobilenetv2-finetune_cpu-320_1xb8-12e --palette 255,187,0 60,179,113 220,20,60
_base_ = ['../_base_/recipes/yolov3_mobilenetv2-finetune_cpu-320_1xb8-12e.py',
          '../_base_/datasets/face_mask.py']

model = dict(bbox_head=dict(num_classes={{_base_.face_mask_num_classes}}))
train_dataloader = dict(dataset=dict(dataset={{_base_.face_mask_train}}))
val_dataloader = dict(dataset={{_base_.face_mask_val}})
test_dataloader = dict(dataset={{_base_.face_mask_test}})
val_evaluator = {{_base_.face_mask_val_evaluator}}
test_evaluator = {{_base_.face_mask_test_evaluator}}
