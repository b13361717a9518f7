# SSDLite-MobileNetV2 at 320x320 from scratch on a 2-core CPU (BCCD: ~30 s an epoch).
# A recipe for any dataset: configs/<dataset>/ssdlite_mobilenetv2-scratch_cpu-1xb8-60e_<dataset>.py adds the dataset
# base, num_classes and datasets. Inherits mmdet's model, pipeline and schedule; sets what differs.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

max_epochs = 60     # cosine schedule length
batch_size = 8      # one process; auto_scale_lr scales lr from base_lr at this size
base_lr = 0.015     # mmdet's lr, kept: SGD at batch 8 from scratch
warmup_iters = 100  # linear warm-up, ~3 epochs of BCCD train (mmdet: 500 iterations at batch 192)

model = dict(bbox_head=dict(type='FixedSSDHead'),
             data_preprocessor=dict(type='ChannelsLastDetDataPreprocessor'))  # NHWC on CPU: 1.2-1.9x faster training
train_dataloader = dict(
    batch_size=batch_size, num_workers=2, persistent_workers=True,
    dataset=dict(times=1))
val_dataloader = dict(batch_size=8, num_workers=2)
test_dataloader = dict(batch_size=8, num_workers=2)

train_cfg = dict(max_epochs=max_epochs, val_interval=10)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs, end=max_epochs, by_epoch=True, eta_min=0),
]
optim_wrapper = dict(optimizer=dict(lr=base_lr))
auto_scale_lr = dict(base_batch_size=batch_size)
default_hooks = dict(
    # a checkpoint every epoch (under a second) so an interrupted run loses at most one
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='coco/bbox_mAP_50', rule='greater'),
    logger=dict(interval=10))
env_cfg = dict(cudnn_benchmark=False)
