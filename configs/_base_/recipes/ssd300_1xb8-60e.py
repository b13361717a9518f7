# SSD300 VGG16 on one GPU at 300x300, fine-tuned from mmdet's COCO model.
# A recipe for any dataset: configs/<dataset>/ssd300_1xb8-60e_<dataset>.py adds the dataset
# base, num_classes and datasets. Inherits mmdet's model, pipeline and schedule; sets what differs.
_base_ = 'mmdet::ssd/ssd300_coco.py'
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

max_epochs = 60         # ~1560 iterations on BCCD train (205 images) at batch 8
milestones = [40, 55]   # lr x0.1 at these epochs (mmdet: 16 and 22 of 24 repeated epochs)
batch_size = 8          # one GPU; auto_scale_lr scales base_lr from this size (--auto-scale-lr)
base_lr = 2.5e-4        # mmdet's 2e-3 at batch 64, scaled linearly
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
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=milestones, gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=2, save_best='coco/bbox_mAP_50',
                                     rule='greater'))
# fine-tuning from COCO; head weights of a different shape (80 classes) are skipped by mmengine
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/ssd/ssd300_coco/ssd300_coco_20210803_015428-d231a06e.pth'
