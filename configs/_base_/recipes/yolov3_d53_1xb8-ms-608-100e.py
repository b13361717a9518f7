# YOLOv3 DarkNet-53 on one GPU, multi-scale 320-608 train / 608 test as mmdet, fine-tuned from COCO.
# A recipe for any dataset: configs/<dataset>/yolov3_d53_1xb8-ms-608-100e_<dataset>.py adds the dataset
# base, num_classes and datasets. Inherits mmdet's model, pipeline and schedule; sets what differs.
_base_ = 'mmdet::yolo/yolov3_d53_8xb8-ms-608-273e_coco.py'
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

max_epochs = 100        # ~2600 iterations on BCCD train (205 images) at batch 8
milestones = [80, 90]   # lr x0.1 at these epochs (mmdet: 218 and 246 of 273)
batch_size = 8          # one GPU; auto_scale_lr scales base_lr from this size (--auto-scale-lr)
base_lr = 1.25e-4       # mmdet's 0.001 at batch 64, scaled linearly
warmup_iters = 200      # linear warm-up from 0.1 x base_lr (mmdet: 2000 iterations)
val_interval = 5        # epochs between val runs and best-mAP50 checkpoints

model = dict(bbox_head=dict(type='ClippedYOLOV3Head'))  # mmdet's head, boxes clipped to the image at test time
train_dataloader = dict(batch_size=batch_size)

train_cfg = dict(max_epochs=max_epochs, val_interval=val_interval)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, milestones=milestones, gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=2, save_best='coco/bbox_mAP_50',
                                     rule='greater'))
# fine-tuning from COCO; head weights of a different shape (80 classes) are skipped by mmengine
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/yolo/yolov3_d53_mstrain-608_273e_coco/yolov3_d53_mstrain-608_273e_coco_20210518_115020-a2c3acb8.pth'
