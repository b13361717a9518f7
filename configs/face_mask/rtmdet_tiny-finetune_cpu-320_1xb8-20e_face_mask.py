# RTMDet-tiny at 320 px for face-mask, fine-tuned from COCO on a 2-core CPU: the shared recipe in
# configs/_base_/recipes/ (sizes halved, short schedule) on the face-mask splits.
_base_ = ['../_base_/recipes/rtmdet_tiny-finetune_cpu-320_1xb8-20e.py',
          '../_base_/datasets/face_mask.py']

model = dict(bbox_head=dict(num_classes={{_base_.face_mask_num_classes}}))
train_dataloader = dict(dataset={{_base_.face_mask_train}})
val_dataloader = dict(dataset={{_base_.face_mask_val}})
test_dataloader = dict(dataset={{_base_.face_mask_test}})
val_evaluator = {{_base_.face_mask_val_evaluator}}
test_evaluator = {{_base_.face_mask_test_evaluator}}
