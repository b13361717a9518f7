# YOLOv3 MobileNetV2 on one GPU, multi-scale 320-416 train / 416 test as mmdet, fine-tuned from COCO.
# A recipe for any dataset: configs/<dataset>/yolov3_mobilenetv2_1xb24-ms-416-150e_<dataset>.py adds the dataset
# base, num_classes and datasets. Inherits mmdet's model, pipeline and schedule; sets what differs.
_base_ = 'mmdet::yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py'
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

max_epochs = 150        # ~1300 iterations on BCCD train (205 images) at batch 24
milestones = [120, 140]  # lr x0.1 at these epochs (mmdet: 24 and 28 of 30)
batch_size = 24         # one GPU; auto_scale_lr scales base_lr from this size (--auto-scale-lr)
base_lr = 3.75e-4       # mmdet's 0.003 at batch 192, scaled linearly
warmup_iters = 200      # linear warm-up (mmdet: 4000 iterations)
val_interval = 5        # epochs between val runs and best-mAP50 checkpoints

model = dict(bbox_head=dict(type='ClippedYOLOV3Head'))  # mmdet's head, boxes clipped to the image at test time
train_dataloader = dict(  # mmdet's RepeatDataset wrapper kept, once through the data an epoch
    batch_size=batch_size, dataset=dict(times=1))

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
