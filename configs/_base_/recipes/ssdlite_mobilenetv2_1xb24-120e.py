# SSDLite MobileNetV2 on one GPU at 320x320, fine-tuned from mmdet's COCO model.
# A recipe for any dataset: configs/<dataset>/ssdlite_mobilenetv2_1xb24-120e_<dataset>.py adds the dataset
# base, num_classes and datasets. Inherits mmdet's model, pipeline and schedule; sets what differs.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

max_epochs = 120        # cosine; ~1080 iterations on BCCD train (205 images) at batch 24
batch_size = 24         # one GPU; auto_scale_lr scales base_lr from this size (--auto-scale-lr)
base_lr = 1.875e-3      # mmdet's 0.015 at batch 192, scaled linearly
warmup_iters = 100      # linear warm-up (mmdet: 500 iterations)
val_interval = 5        # epochs between val runs and best-mAP50 checkpoints

# FixedSSDHead: mmdet 3.3's SSDHead fails at every val/test step (custom/models/ssd_head.py)
model = dict(bbox_head=dict(type='FixedSSDHead'))
train_dataloader = dict(  # mmdet's RepeatDataset wrapper kept, once through the data an epoch
    batch_size=batch_size, dataset=dict(times=1))

train_cfg = dict(max_epochs=max_epochs, val_interval=val_interval)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs, end=max_epochs, by_epoch=True, eta_min=0)]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=2, save_best='coco/bbox_mAP_50',
                                     rule='greater'))
# fine-tuning from COCO; head weights of a different shape (80 classes) are skipped by mmengine
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/ssd/ssdlite_mobilenetv2_scratch_600e_coco/ssdlite_mobilenetv2_scratch_600e_coco_20210629_110627-974d9307.pth'
