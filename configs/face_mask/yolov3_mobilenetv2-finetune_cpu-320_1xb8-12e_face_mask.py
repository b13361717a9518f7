# YOLOv3 MobileNetV2 at 320 px fine-tuned from COCO (CPU) for face-mask: its recipe on the face-mask splits.
_base_ = ['../_base_/recipes/yolov3_mobilenetv2-finetune_cpu-320_1xb8-12e.py',
          '../_base_/datasets/face_mask.py']

model = dict(bbox_head=dict(num_classes={{_base_.face_mask_num_classes}}))
train_dataloader = dict(dataset=dict(dataset={{_base_.face_mask_train}}))
val_dataloader = dict(dataset={{_base_.face_mask_val}})
test_dataloader = dict(dataset={{_base_.face_mask_test}})
val_evaluator = {{_base_.face_mask_val_evaluator}}
test_evaluator = {{_base_.face_mask_test_evaluator}}
