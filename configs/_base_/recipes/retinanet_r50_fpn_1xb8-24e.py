# RetinaNet R50-FPN on one GPU at mmdet's 1333x800, fine-tuned from mmdet's COCO model.
# A recipe for any dataset: configs/<dataset>/retinanet_r50_fpn_1xb8-24e_<dataset>.py adds the dataset
# base, num_classes and datasets. Inherits mmdet's model, pipeline and schedule; sets what differs.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

max_epochs = 24         # ~620 iterations on BCCD train (205 images) at batch 8
milestones = [16, 22]   # lr x0.1 at these epochs (mmdet's 2x schedule)
batch_size = 8          # one GPU; auto_scale_lr scales base_lr from this size (--auto-scale-lr)
base_lr = 0.005         # mmdet's 0.01 at batch 16, scaled linearly
warmup_iters = 100      # linear warm-up (mmdet: 500 iterations)
val_interval = 2        # epochs between val runs and best-mAP50 checkpoints

train_dataloader = dict(batch_size=batch_size, num_workers=4)

train_cfg = dict(max_epochs=max_epochs, val_interval=val_interval)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=milestones, gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=2, save_best='coco/bbox_mAP_50',
                                     rule='greater'))
# fine-tuning from COCO; head weights of a different shape (80 classes) are skipped by mmengine
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r50_fpn_1x_coco/retinanet_r50_fpn_1x_coco_20200130-c2398f9e.pth'
