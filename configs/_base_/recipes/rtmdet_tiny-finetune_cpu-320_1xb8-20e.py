# RTMDet-tiny at 320 px fine-tuned from mmdet's COCO detector on a 2-core CPU: the default way to train
# this model (the *-scratch_cpu-* recipe is for machines that cannot get the weights). Same model and
# pipelines as the scratch recipe; a short schedule at a lower learning rate, as mmdet's own
# fine-tuning example (rtmdet_tiny_1xb12-40e_cat: lr 0.004 / 16, last epoch without mosaic).
_base_ = './rtmdet_tiny-scratch_cpu-320_1xb8-50e.py'

max_epochs = 20     # ~520 iterations on BCCD train (205 images) at batch 8
stage2_epochs = 2   # last epochs without mosaic/mixup
base_lr = 0.0005    # AdamW; a quarter of the from-scratch lr
warmup_iters = 30
# mmdet's COCO detector (box AP 40.9); its 80-class head layers are re-initialised for the dataset
load_from = 'https://download.openmmlab.com/mmdetection/v3.0/rtmdet/rtmdet_tiny_8xb32-300e_coco/rtmdet_tiny_8xb32-300e_coco_20220902_112414-78e30dcc.pth'  # noqa: E501

train_cfg = dict(max_epochs=max_epochs, val_interval=5, dynamic_intervals=[(max_epochs - stage2_epochs, 1)])
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, begin=0, end=max_epochs, T_max=max_epochs,
         by_epoch=True, convert_to_iter_based=True)]
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=max_epochs - stage2_epochs,
         switch_pipeline={{_base_.stage2_pipeline}})]
