"""Timing on the CPU that says how sure it is: repeated measurement, medians with spreads, verdicts.

A single timing of a small model on a shared machine (a notebook server, a laptop with a browser
open) can be off by a factor of two or more. So :func:`latency` times a model with
``torch.utils.benchmark.Timer`` in blocks of calls, timed again and again (the rule of
``Timer.adaptive_autorange``) until the spread is small or a time limit is reached. The result is
a :class:`Timing`: the median time per call with its quartiles (the interquartile range, IQR, is
the spread).
:func:`compare` turns two timings into a speed-up with an interval and a verdict computed from
the data: ``"faster"``, ``"slower"``, ``"the same within the noise"``, or ``"too noisy to tell,
rerun"`` when either spread is too wide to support a verdict. :func:`op_timings` does the same
per torch operation with ``torch.profiler``.

:func:`latency_ms` (one median of a fixed number of calls) and :func:`op_times` are the simple
measurements that ``pruning`` and ``tradeoff.measure`` use; compare models with :func:`latency`
and :func:`compare`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn

from helpers import _checks

VERDICTS = ("faster", "slower", "the same within the noise", "too noisy to tell, rerun")
MAX_SPREAD = 0.25  # IQR / median above which a timing supports no verdict


class Timing(NamedTuple):
    """Time per call in milliseconds: the median and the quartiles over ``runs`` timed blocks."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    runs: int

    @classmethod
    def from_times(cls, times_ms: Sequence[float]) -> Timing:
        """The median and quartiles (linear interpolation, as ``torch.quantile``) of ``times_ms``."""
        times = [float(t) for t in times_ms]
        if not times or any(not t > 0 for t in times):
            raise ValueError(f"times_ms must be a non-empty sequence of positive times, got {times_ms!r}")
        if len(times) == 1:
            return cls(times[0], times[0], times[0], 1)
        q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive")
        return cls(median, q1, q3, len(times))

    @property
    def iqr_ms(self) -> float:
        """The interquartile range: the spread of the middle half of the timed blocks."""
        return self.q3_ms - self.q1_ms

    @property
    def spread(self) -> float:
        """IQR / median: 0.05 means the middle half of the blocks lie within about 5% of each other."""
        return self.iqr_ms / self.median_ms

    def __str__(self) -> str:
        return f"{self.median_ms:.3f} ms (IQR {self.iqr_ms:.3f})"


class Comparison(NamedTuple):
    """A speed-up (baseline time / candidate time), the interval the quartiles allow, and the verdict."""

    speedup: float
    low: float
    high: float
    verdict: str

    def __str__(self) -> str:
        return f"{self.speedup:.2f}x ({self.low:.2f}-{self.high:.2f}x): {self.verdict}"


@contextlib.contextmanager
def cpu_inference(model: nn.Module, num_threads: int | None):
    """Run ``model`` on the CPU in eval mode under inference mode, on ``num_threads`` torch threads
    (``None``: the current setting); the thread count and the model's mode are set back afterwards."""
    if num_threads is not None:
        _checks.positive_int("num_threads", num_threads)
    was_training, threads = model.training, torch.get_num_threads()
    model.cpu().eval()
    try:
        torch.set_num_threads(num_threads or threads)
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)


def _timer(fn: Callable[[], object], num_threads: int):
    """A ``torch.utils.benchmark.Timer`` of ``fn()``. Importing the benchmark utilities logs a warning
    about ``CUDA_HOME`` on machines without CUDA (``torch.utils.cpp_extension``); it carries nothing
    for CPU timing and is silenced."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark
    finally:
        logger.setLevel(level)
    return benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=num_threads)


def time_call(fn: Callable[[], object], *, num_threads: int = 1, threshold: float = 0.05,
              min_run_time: float = 0.2, max_run_time: float = 1.0, block_ms: float = 5.0) -> Timing:
    """Time ``fn()`` in repeated blocks with ``torch.utils.benchmark.Timer``, until the spread is small.

    A block is as many calls as take about ``block_ms`` milliseconds (one call at least), so that a
    call of 40 microseconds and one of 40 milliseconds both get enough blocks for a spread; the
    first calls, which choose the block size, are the warm-up. Blocks are timed (``Timer.timeit``,
    on ``num_threads`` torch threads) until at least ``min_run_time`` seconds and 5 blocks have
    passed and IQR / median is below ``threshold``, or until ``max_run_time`` seconds. This is
    ``Timer.adaptive_autorange``'s rule with blocks sized for a notebook's time budget (its own
    blocks can last a second each for a call of 40 microseconds).

    Args:
        fn: What to time, called without arguments (e.g. ``lambda: model(x)``).
        num_threads: Torch threads while timing (set back afterwards).
        threshold: IQR / median at which the timing may stop early.
        min_run_time: Seconds of timed blocks at least.
        max_run_time: Seconds of timed blocks at most (a block in progress is finished).
        block_ms: The target duration of one block, in milliseconds.

    Returns:
        The :class:`Timing` of one call, over the timed blocks.
    """
    _checks.callable_("fn", fn, "a callable taking no arguments")
    _checks.positive_int("num_threads", num_threads)
    threshold = _checks.positive_number("threshold", threshold)
    min_run_time = _checks.positive_number("min_run_time", min_run_time)
    if not _checks.positive_number("max_run_time", max_run_time) >= min_run_time:
        raise ValueError(f"max_run_time must be at least min_run_time ({min_run_time}), got {max_run_time!r}")
    block_ms = _checks.positive_number("block_ms", block_ms)
    timer = _timer(fn, num_threads)
    warmup = min(timer.timeit(1).raw_times[0] for _ in range(3)) * 1e3
    number = max(1, math.floor(block_ms / warmup))
    times, total = [], 0.0
    while total < max_run_time:
        block = timer.timeit(number).raw_times[0]
        times.append(block / number * 1e3)
        total += block
        if len(times) >= 5 and total >= min_run_time and Timing.from_times(times).spread < threshold:
            break
    return Timing.from_times(times)


def latency(model: nn.Module, example_input: torch.Tensor, *, num_threads: int | None = 1,
            **options) -> Timing:
    """Return the :class:`Timing` of ``model(example_input)`` on the CPU, in eval and inference mode.

    Args:
        model: The model to time; moved to the CPU, its mode set back afterwards.
        example_input: One input batch.
        num_threads: Torch threads while timing (by default one, as on a small edge device, and
            steadier on a shared machine); ``None`` keeps the current setting.
        **options: ``threshold``, ``min_run_time``, ``max_run_time`` of :func:`time_call`.
    """
    with cpu_inference(model, num_threads):
        x = example_input.cpu()
        return time_call(lambda: model(x), num_threads=torch.get_num_threads(), **options)


def compare(baseline: Timing, candidate: Timing, *, max_spread: float = MAX_SPREAD) -> Comparison:
    """Return the speed-up of ``candidate`` over ``baseline``, its interval and the verdict.

    The speed-up is ``baseline.median_ms / candidate.median_ms`` (above 1: the candidate is faster).
    Its interval pairs the quartiles the other way round (``baseline.q1 / candidate.q3`` up to
    ``baseline.q3 / candidate.q1``). The verdict: ``"too noisy to tell, rerun"`` if either timing's
    IQR / median is above ``max_spread``; otherwise ``"faster"`` if the whole interval is above 1,
    ``"slower"`` if it is below 1, and ``"the same within the noise"`` if it contains 1.

    Args:
        baseline: The reference timing (e.g. the dense model).
        candidate: The timing compared with it (e.g. the pruned model).
        max_spread: The widest IQR / median that still supports a verdict.
    """
    for name, timing in (("baseline", baseline), ("candidate", candidate)):
        if not isinstance(timing, Timing):
            raise TypeError(f"{name} must be a Timing (from timing.latency), got {type(timing).__name__}")
    max_spread = _checks.positive_number("max_spread", max_spread)
    speedup = baseline.median_ms / candidate.median_ms
    low, high = baseline.q1_ms / candidate.q3_ms, baseline.q3_ms / candidate.q1_ms
    if max(baseline.spread, candidate.spread) > max_spread:
        verdict = VERDICTS[3]
    elif low > 1:
        verdict = VERDICTS[0]
    elif high < 1:
        verdict = VERDICTS[1]
    else:
        verdict = VERDICTS[2]
    return Comparison(speedup, low, high, verdict)


def latency_ms(model: nn.Module, example_input: torch.Tensor, *, repeats: int = 50,
               warmup: int = 5, num_threads: int | None = 1) -> float:
    """Return the median CPU inference time of ``model(example_input)`` in milliseconds.

    The model is moved to the CPU and runs in eval mode under ``torch.inference_mode``;
    ``warmup`` calls are made first and not timed; the median of ``repeats`` timed calls is
    returned. By default torch runs on one thread while timing (and is set back afterwards):
    small models on a busy laptop or notebook server otherwise swing by orders of magnitude with
    thread contention, and one thread is what an edge device often gives a model. One number
    without its spread: to compare two models, use :func:`latency` and :func:`compare`.

    Args:
        model: The model to time.
        example_input: One input batch.
        repeats: Timed calls.
        warmup: Untimed calls first.
        num_threads: Torch threads while timing; ``None`` keeps the current setting.
    """
    _checks.positive_int("repeats", repeats)
    _checks.non_negative_int("warmup", warmup)
    times = []
    with cpu_inference(model, num_threads):
        x = example_input.cpu()
        for i in range(warmup + repeats):
            start = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


@contextlib.contextmanager
def _stderr_silenced():
    """Send the process's file descriptor 2 to /dev/null: C++ libraries write there, not to sys.stderr."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def op_times(model: nn.Module, example_input: torch.Tensor, *, repeats: int = 5,
             num_threads: int | None = 1) -> dict[str, float]:
    """Return the CPU milliseconds per forward pass spent in each torch operation, from ``torch.profiler``.

    One untimed call first, then ``repeats`` calls under ``torch.profiler.profile`` (CPU activity),
    in eval mode under ``torch.inference_mode``; the self CPU time of each operation (``aten::addmm``,
    ``aten::max_pool2d_with_indices``, ...) is averaged per call. Kineto, the profiler's backend,
    writes status lines (``USDT: profiler_start``, and on machines without a GPU an ``ERROR`` about
    the GPU count) straight to the process's stderr; they carry nothing here and are silenced.

    Args:
        model: The model to profile (on the CPU).
        example_input: One input batch.
        repeats: Profiled calls.
        num_threads: Torch threads while profiling; ``None`` keeps the current setting.

    Returns:
        ``{operation name: milliseconds per call}``, largest first.
    """
    _checks.positive_int("repeats", repeats)
    with cpu_inference(model, num_threads):
        x = example_input.cpu()
        model(x)
        with _stderr_silenced():
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
                for _ in range(repeats):
                    model(x)
            events = profiler.key_averages()
    times = {event.key: event.self_cpu_time_total / repeats / 1e3 for event in events}
    return dict(sorted(times.items(), key=lambda item: item[1], reverse=True))


def op_timings(model: nn.Module, example_input: torch.Tensor, *, rounds: int = 5, repeats: int = 2,
               num_threads: int | None = 1) -> dict[str, Timing]:
    """Return each torch operation's :class:`Timing` over ``rounds`` profiles of :func:`op_times`.

    Each round profiles ``repeats`` forward passes; an operation's timing is the median and quartiles
    of its milliseconds per pass over the rounds in which it ran. Largest median first.
    """
    _checks.positive_int("rounds", rounds)
    runs: dict[str, list[float]] = {}
    for _ in range(rounds):
        for op, ms in op_times(model, example_input, repeats=repeats, num_threads=num_threads).items():
            if ms > 0:
                runs.setdefault(op, []).append(ms)
    timings = {op: Timing.from_times(times) for op, times in runs.items()}
    return dict(sorted(timings.items(), key=lambda item: item[1].median_ms, reverse=True))
