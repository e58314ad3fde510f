"""Timing helpers: medians with spreads, verdicts computed from them, bad input refused."""

import logging

import pytest
import torch
from torch import nn

from helpers import models, pruning, timing
from helpers.timing import Timing


def test_timing_from_times_gives_median_and_quartiles():
    t = Timing.from_times([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (t.median_ms, t.q1_ms, t.q3_ms, t.runs) == (3.0, 2.0, 4.0, 5)
    assert t.iqr_ms == 2.0 and t.spread == pytest.approx(2 / 3)
    assert Timing.from_times([2.5]) == Timing(2.5, 2.5, 2.5, 1)
    assert str(Timing(1.5, 1.4, 1.6, 9)) == "1.500 ms (IQR 0.200)"


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [-1.0], [float("nan")]])
def test_timing_refuses_what_is_not_a_time(bad):
    with pytest.raises(ValueError, match="times_ms must be a non-empty sequence of positive times"):
        Timing.from_times(bad)


def timing_around(median: float, spread: float) -> Timing:
    """A synthetic timing: quartiles at median -/+ spread/2 of the median."""
    return Timing(median, median * (1 - spread / 2), median * (1 + spread / 2), 20)


@pytest.mark.parametrize(("baseline", "candidate", "verdict"), [
    (timing_around(2.0, 0.05), timing_around(1.0, 0.05), "faster"),
    (timing_around(1.0, 0.05), timing_around(2.0, 0.05), "slower"),
    (timing_around(1.0, 0.05), timing_around(1.02, 0.05), "the same within the noise"),
    (timing_around(1.0, 0.20), timing_around(1.15, 0.20), "the same within the noise"),
    (timing_around(2.0, 0.60), timing_around(1.0, 0.05), "too noisy to tell, rerun"),
    (timing_around(1.0, 0.05), timing_around(4.0, 0.30), "too noisy to tell, rerun"),
])
def test_compare_computes_the_verdict_from_the_spreads(baseline, candidate, verdict):
    result = timing.compare(baseline, candidate)
    assert result.verdict == verdict
    assert result.speedup == pytest.approx(baseline.median_ms / candidate.median_ms)
    assert result.low <= result.speedup <= result.high
    assert str(result).endswith(verdict)


def test_compare_interval_pairs_the_quartiles_the_other_way_round():
    result = timing.compare(Timing(2.0, 1.9, 2.1, 10), Timing(1.0, 0.95, 1.05, 10))
    assert result.low == pytest.approx(1.9 / 1.05) and result.high == pytest.approx(2.1 / 0.95)
    strict = timing.compare(Timing(2.0, 1.9, 2.1, 10), Timing(1.0, 0.95, 1.05, 10), max_spread=0.05)
    assert strict.verdict == "too noisy to tell, rerun", "a stricter max_spread refuses spreads of 10%"


def test_compare_refuses_bad_input():
    t = Timing(1.0, 0.9, 1.1, 5)
    with pytest.raises(TypeError, match="baseline must be a Timing"):
        timing.compare(1.0, t)
    with pytest.raises(TypeError, match="candidate must be a Timing"):
        timing.compare(t, (1.0, 0.9, 1.1))
    with pytest.raises(ValueError, match="max_spread must be a positive number, got 0"):
        timing.compare(t, t, max_spread=0)


def test_a_model_twice_as_expensive_is_found_slower():
    torch.manual_seed(0)
    layer = nn.Linear(512, 512)
    once, twice = nn.Sequential(layer), nn.Sequential(layer, layer)
    x = torch.randn(256, 512)
    result = timing.compare(timing.latency(once, x), timing.latency(twice, x))
    assert result.verdict == "slower", result
    assert 0.3 < result.speedup < 0.7, f"twice the work takes about twice the time, got {result}"


def test_latency_restores_threads_and_mode_and_times_on_one_thread():
    threads, seen = torch.get_num_threads(), []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((torch.get_num_threads(), torch.is_inference_mode_enabled(), self.training))
            return x

    probe = Probe().train()
    result = timing.latency(probe, torch.zeros(1), min_run_time=0.01, max_run_time=0.05)
    assert isinstance(result, Timing) and result.runs >= 1 and result.median_ms > 0
    assert set(seen) == {(1, True, False)}
    assert torch.get_num_threads() == threads and probe.training


def test_time_call_stops_at_max_run_time_and_refuses_bad_options():
    calls = []
    result = timing.time_call(lambda: calls.append(1), min_run_time=0.01, max_run_time=0.02, block_ms=1)
    assert result.runs >= 1 and len(calls) > result.runs
    with pytest.raises(ValueError, match="max_run_time must be at least min_run_time"):
        timing.time_call(lambda: None, min_run_time=1.0, max_run_time=0.5)
    with pytest.raises(ValueError, match="num_threads must be a positive int, got 0"):
        timing.time_call(lambda: None, num_threads=0)
    with pytest.raises(ValueError, match="block_ms must be a positive number"):
        timing.time_call(lambda: None, block_ms=-1)
    with pytest.raises(TypeError, match="fn must be a callable"):
        timing.time_call(3)


def test_timer_import_logs_nothing(caplog):
    with caplog.at_level(logging.WARNING):
        timing.time_call(lambda: None, min_run_time=0.01, max_run_time=0.02)
    assert "CUDA" not in caplog.text


def test_pruning_keeps_its_names_for_the_simple_measurements():
    assert pruning.latency_ms is timing.latency_ms and pruning.op_times is timing.op_times


def test_op_timings_give_each_operation_a_timing_over_rounds():
    model = models.SmallCNN(channels=(4, 8), hidden=16)
    result = timing.op_timings(model, torch.randn(8, 1, 28, 28), rounds=3, repeats=1)
    assert "aten::addmm" in result and all(isinstance(t, Timing) for t in result.values())
    medians = [t.median_ms for t in result.values()]
    assert medians == sorted(medians, reverse=True)
    assert result["aten::addmm"].runs == 3
    with pytest.raises(ValueError, match="rounds must be a positive int, got 0"):
        timing.op_timings(model, torch.randn(1, 1, 28, 28), rounds=0)
