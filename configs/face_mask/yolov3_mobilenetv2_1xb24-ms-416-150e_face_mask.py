# YOLOv3 MobileNetV2 for face-mask on one GPU, multi-scale 320-416 train / 416 test as mmdet,
# fine-tuned from mmdet's COCO model. Inherits mmdet's model, pipeline and schedule.
_base_ = ['mmdet::yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py', '../_base_/datasets/face_mask.py']
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

max_epochs = 150        # ~3100 iterations on face-mask train (490 images) at batch 24
milestones = [120, 140]  # lr x0.1 at these epochs (mmdet: 24 and 28 of 30)
batch_size = 24         # one GPU; auto_scale_lr scales base_lr from this size (--auto-scale-lr)
base_lr = 3.75e-4       # mmdet's 0.003 at batch 192, scaled linearly
warmup_iters = 200      # linear warm-up (mmdet: 4000 iterations)
val_interval = 5        # epochs between val runs and best-mAP50 checkpoints

model = dict(bbox_head=dict(num_classes={{_base_.face_mask_num_classes}}))
train_dataloader = dict(  # mmdet's RepeatDataset wrapper kept, once through the data an epoch
    batch_size=batch_size, dataset=dict(times=1, dataset={{_base_.face_mask_train}}))
val_dataloader = dict(dataset={{_base_.face_mask_val}})
test_dataloader = dict(dataset={{_base_.face_mask_test}})
val_evaluator = {{_base_.face_mask_val_evaluator}}
test_evaluator = {{_base_.face_mask_test_evaluator}}

train_cfg = dict(max_epochs=max_epochs, val_interval=val_interval)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.0001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, milestones=milestones, gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=2, save_best='coco/bbox_mAP_50',
                                     rule='greater'))
# fine-tuning from COCO; head weights of a different shape (80 classes) are skipped by mmengine
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/yolo/yolov3_mobilenetv2_mstrain-416_300e_coco/yolov3_mobilenetv2_mstrain-416_300e_coco_20210718_010823-f68a07b3.pth'
