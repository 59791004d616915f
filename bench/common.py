"""Timing and memory helpers shared by the benchmarks in `bench/`.

Times are wall-clock seconds from `time.perf_counter`, with the device synchronised around every call. Methods that
are compared are timed round-robin (one call of each per round), so that every method sees the same machine load and
their ratios stay meaningful on a shared, noisy machine even when the absolute times drift.
"""
import math, statistics, time

import torch


def sync(device) -> None:
    "Wait for the work queued on `device` (a no-op on the CPU)."
    if torch.device(device).type == 'cuda': torch.cuda.synchronize(device)


def round_robin(fns: dict, rounds: int, device='cpu', warmup: int = 1) -> dict:
    "name -> seconds per call in each of `rounds` rounds; `fns` maps name -> fn or (fn, calls per round)."
    fns = {k: v if isinstance(v, tuple) else (v, 1) for k, v in fns.items()}
    for f, n in fns.values():
        for _ in range(warmup * n): f()
    sync(device)
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, (f, n) in fns.items():
            sync(device); t0 = time.perf_counter()
            for _ in range(n): f()
            sync(device); times[k].append((time.perf_counter() - t0) / n)
    return times


def median(xs) -> float: return statistics.median(xs)


def quantile(xs, q: float) -> float:
    "The `q` quantile of `xs`, linearly interpolated (q=0.95: p95)."
    xs = sorted(xs)
    i = q * (len(xs) - 1)
    lo, hi = math.floor(i), math.ceil(i)
    return xs[lo] + (xs[hi] - xs[lo]) * (i - lo)


def peak_memory(fn, device='cpu') -> int:
    "Bytes allocated by torch during `fn()` at its peak, above what was already allocated before the call."
    device = torch.device(device)
    if device.type == 'cuda':
        sync(device); torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn(); sync(device)
        return torch.cuda.max_memory_allocated(device) - base
    return _cpu_peak_memory(fn)


def _cpu_peak_memory(fn) -> int:
    "Peak of the running sum of CPU allocations and frees that the profiler records during `fn()`."
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p: fn()
    ev = [e for e in p.profiler.kineto_results.events() if e.name() == '[memory]' and str(e.device_type()).endswith('CPU')]
    run = peak = 0
    for e in sorted(ev, key=lambda e: e.start_ns()):
        run += e.nbytes(); peak = max(peak, run)
    return peak


def matmul_flops_per_s(n: int, rounds: int, device='cpu', dtype=torch.float32) -> dict:
    "This machine's dense matmul rate: median FLOP/s of `a @ b` on (n, n) matrices, 2 n^3 FLOPs per call."
    g = torch.Generator(device).manual_seed(0)
    a, b = (torch.randn(n, n, generator=g, device=device, dtype=dtype) for _ in range(2))
    ts = round_robin({'matmul': lambda: torch.matmul(a, b)}, rounds, device)['matmul']
    return dict(n=n, dtype=str(dtype).removeprefix('torch.'), seconds=ts, flops_per_s=2 * n ** 3 / median(ts))
