# YOLOv3 MobileNetV2 at 320 px for BCCD, trained from scratch on a 2-core CPU.
# Inherits mmdet's 320 px model (its anchors), pipeline and schedule; only what differs is set here.
_base_ = ['mmdet::yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py', '../_base_/datasets/bccd.py']
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

max_epochs = 60         # ~1560 iterations on BCCD train (205 images) at batch 8
milestones = [48, 56]   # lr x0.1 at these epochs (mmdet: 24 and 28 of 30)
batch_size = 8          # one process; auto_scale_lr scales base_lr from this size
base_lr = 0.003         # SGD, mmdet's lr at its 24 a GPU kept (not scaled down): from scratch, grad-clipped
warmup_iters = 200      # linear warm-up (mmdet: 4000 iterations)

model = dict(backbone=dict(init_cfg=None),  # no ImageNet weights offline; mmdet's init_cfg loads them
             bbox_head=dict(num_classes={{_base_.bccd_num_classes}}))
train_dataloader = dict(  # mmdet's RepeatDataset wrapper kept, once through the data an epoch
    batch_size=batch_size, num_workers=2, dataset=dict(times=1, dataset={{_base_.bccd_train}}))
val_dataloader = dict(batch_size=8, num_workers=2, dataset={{_base_.bccd_val}})
test_dataloader = dict(batch_size=8, num_workers=2, dataset={{_base_.bccd_test}})
val_evaluator = {{_base_.bccd_val_evaluator}}
test_evaluator = {{_base_.bccd_test_evaluator}}

train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, milestones=milestones, gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='coco/bbox_mAP_50', rule='greater'),
                     logger=dict(interval=10))
