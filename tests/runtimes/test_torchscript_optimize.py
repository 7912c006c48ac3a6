"""The TorchScript loading rule shared by the in-process runtime and TorchServe's handler:
optimize_for_inference is kept only where it is timed faster on a sample."""

from __future__ import annotations

import re
import time
import types

import pytest
import torch

from deploy_compare.runtimes.torchscript_optimize import TIMED_PATTERN, BatchSplit, load_fastest

pytestmark = pytest.mark.runtime


class _Net(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) * 2


def _loader(tmp_path):
    path = tmp_path / "net.pt"
    torch.jit.freeze(torch.jit.script(_Net()).eval()).save(str(path))
    return lambda: torch.jit.load(str(path)).eval()


def _torch_whose_optimizer_returns(make):
    """Real torch, with optimize_for_inference replaced: the rule is tested, not torch's pass."""
    return types.SimpleNamespace(
        jit=types.SimpleNamespace(optimize_for_inference=make), inference_mode=torch.inference_mode
    )


class _Slow:
    """`inner`, 2 ms longer a call at the batch sizes `when` accepts."""

    def __init__(self, inner, when=lambda batch: True):
        self.inner, self.when = inner, when

    def __call__(self, *args):
        if self.when(args[0].shape[0]):
            time.sleep(0.002)
        return self.inner(*args)


def test_a_slower_optimized_module_is_not_kept(tmp_path):
    load, example = _loader(tmp_path), [torch.ones(1, 8)]
    module, applied = load_fastest(_torch_whose_optimizer_returns(_Slow), load, True, example)
    assert re.fullmatch(TIMED_PATTERN, applied) and applied.startswith("not kept: measured slower")
    assert not isinstance(module, _Slow)  # the frozen module itself
    assert torch.equal(module(*example), torch.full((1, 8), 2.0))


def test_a_faster_optimized_module_is_kept(tmp_path):
    load, example = _loader(tmp_path), [torch.ones(1, 8)]
    # the frozen module made slow instead, and the "optimizer" unwraps it: the candidate wins
    module, applied = load_fastest(
        _torch_whose_optimizer_returns(lambda m: m.inner), lambda: _Slow(load()), True, example
    )
    assert applied.startswith("applied (") and re.fullmatch(TIMED_PATTERN, applied)
    assert not isinstance(module, _Slow)


def test_each_batch_size_gets_the_module_that_won_there(tmp_path):
    """The digits CNN: optimize_for_inference slower for one sample, faster for a batch of 8."""
    load, example = _loader(tmp_path), [torch.ones(1, 8)]
    optimizer = _torch_whose_optimizer_returns(lambda m: _Slow(m.inner, lambda batch: batch == 1))
    module, applied = load_fastest(optimizer, lambda: _Slow(load(), lambda batch: batch > 1), True, example)
    assert re.fullmatch(TIMED_PATTERN, applied) and applied.startswith("applied from batch 8 up, frozen alone below")
    assert isinstance(module, BatchSplit) and module.at == 8
    assert module.below.when(8) and module.from_at.when(1)  # frozen alone below 8, the optimized one from 8
    assert torch.equal(module(torch.ones(3, 8)), torch.full((3, 8), 2.0))


def test_the_real_pass_on_a_real_frozen_file_and_the_rules_other_ends(tmp_path):
    load, example = _loader(tmp_path), [torch.ones(1, 8)]
    module, applied = load_fastest(torch, load, True, example)
    assert re.fullmatch(TIMED_PATTERN, applied), applied
    assert torch.equal(module(*example), torch.full((1, 8), 2.0))
    assert load_fastest(torch, load, False, example)[1] == "not applied (the file is not frozen)"
    assert load_fastest(torch, load, True, None)[1] == "applied"  # no sample to time: the guide's default

    def broken(_module):
        raise RuntimeError("required keyword attribute 'value' is undefined")

    module, applied = load_fastest(_torch_whose_optimizer_returns(broken), load, True, example)
    assert applied == "failed, frozen module kept (required keyword attribute 'value' is undefined)"
    assert torch.equal(module(*example), torch.full((1, 8), 2.0))
