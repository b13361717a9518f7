# The README demo when mmdet's COCO weights can be had: RTMDet-tiny fine-tuned on the 52-image sample
# shipped in datasets/bccd_sample (train 32 / val 8 / test 12), a few minutes on 2 cores.
_base_ = './rtmdet_tiny-finetune_cpu-320_1xb8-20e_bccd.py'

max_epochs = 20     # 160 iterations at batch 4
stage2_epochs = 2   # last epochs without mosaic/mixup
batch_size = 4      # more updates per epoch on 32 images
warmup_iters = 20

train_dataloader = dict(batch_size=batch_size)
auto_scale_lr = dict(base_batch_size=batch_size)  # base_lr is for batch 4; --auto-scale-lr scales from it
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs, dynamic_intervals=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=2.5e-5, begin=0, end=max_epochs,  # eta_min: 0.05 x base_lr
         T_max=max_epochs, by_epoch=True, convert_to_iter_based=True)]
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=max_epochs - stage2_epochs,
         switch_pipeline={{_base_.stage2_pipeline}})]
