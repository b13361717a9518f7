"""One training step against float64 in each memory layout (custom.benchmark.layout_check,
tools/analysis_tools/layout_check.py)."""
import pytest
import torch
from torch import nn

from conftest import initialised_model, run_tool
from custom.benchmark.layout_check import compare_layouts, training_step

RTMDET_SAMPLE = 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample.py'


class _Conv(nn.Module):
    """A detector stand-in: ``model(x, mode='tensor')`` returns a list of head outputs."""

    def __init__(self, reads_memory_as_nchw: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.reads_memory_as_nchw = reads_memory_as_nchw

    def forward(self, x, mode='tensor'):
        y = self.conv(x)
        if self.reads_memory_as_nchw:  # a layout bug: raw memory taken for NCHW whatever the layout
            n, c, h, w = y.shape
            y = torch.as_strided(y, y.shape, (c * h * w, h * w, w, 1))
        return [y]


def _images(n=2, size=16):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(3))


def test_a_correct_model_is_within_float32_rounding_in_both_layouts():
    report = compare_layouts(_Conv(), _images())
    assert list(report) == ['nchw', 'nhwc']
    for error in report.values():
        assert 0 <= error.forward < 1e-5 and 0 <= error.gradient < 1e-5
        assert sorted(name for name, _ in error.worst) == ['conv.bias', 'conv.weight']


def test_a_layout_bug_shows_in_channels_last_only():
    report = compare_layouts(_Conv(reads_memory_as_nchw=True), _images())
    assert report['nchw'].forward < 1e-5 and report['nchw'].gradient < 1e-5
    assert report['nhwc'].forward > 0.1 and report['nhwc'].gradient > 0.1
    assert report['nhwc'].worst[0][0] == 'conv.weight' and report['nhwc'].worst[0][1] > 0.1


def test_an_unknown_layout_is_refused_by_name():
    with pytest.raises(ValueError, match="layout 'nwhc': expected one of"):
        training_step(_Conv(), _images(), 'nwhc')


def test_the_model_is_left_untouched():
    model = _Conv()
    before = {n: p.detach().clone() for n, p in model.state_dict().items()}
    training_step(model, _images().double(), 'nhwc')
    assert next(model.parameters()).dtype == torch.float32 and model.conv.weight.grad is None
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())


def test_rtmdet_step_is_the_same_in_either_layout_in_float64():
    """Channels-last changes only float32 rounding for RTMDet: in float64 a training-mode step's
    outputs and every parameter's gradient agree between the layouts to float64 rounding."""
    model = initialised_model(RTMDET_SAMPLE)
    images = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    plain_out, plain = training_step(model, images, 'nchw')
    nhwc_out, nhwc = training_step(model, images, 'nhwc')
    assert len(plain_out) == 6  # 3 levels x (scores, boxes)
    for a, b in zip(plain_out, nhwc_out):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9 * float(a.abs().max()))
    assert plain.keys() == nhwc.keys() and len(plain) > 100  # backbone, neck and head
    for name, grad in plain.items():
        torch.testing.assert_close(nhwc[name], grad, rtol=1e-7, atol=1e-9 * float(grad.abs().max()) + 1e-15,
                                   msg=lambda m, name=name: f'{name}: {m}')


def test_cli_prints_both_layouts_and_refuses_bad_input():
    run = run_tool('tools/analysis_tools/layout_check.py', RTMDET_SAMPLE, '--img-size', '64', '--batch', '1',
                   '--top', '2')
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0] == (f'{RTMDET_SAMPLE}: one training step, 1 x 64x64, float32 against float64 NCHW '
                        '(relative errors)')
    assert lines[1].startswith('nchw: outputs ') and lines[4].startswith('nhwc: outputs ')
    assert len(lines) == 7  # two parameters under each layout
    bad = run_tool('tools/analysis_tools/layout_check.py', RTMDET_SAMPLE, '--img-size', '100')
    assert bad.returncode == 1 and '--img-size 100 --batch 4: the size must be a multiple of 32' in bad.stderr
    missing = run_tool('tools/analysis_tools/layout_check.py', 'configs/bccd/nothing_here.py')
    assert missing.returncode == 1 and 'configs/bccd/nothing_here.py: no such config file' in missing.stderr
