"""Importance sampler speed: `update` + `sample` of `LossSecondMomentResampler` against the per-sample loop.

Three samplers run side by side in one process, interleaved, on warmed-up samplers, so the ratios are what to read
(absolute times on a shared machine are noisy): the default (on a CPU: numpy on views of the buffers), the same
sampler forced onto the torch ops a GPU runs, and the seed's per-sample loop (`NaiveResampler`).
Usage: `python bench/timestep_sampler.py [--quick] [--threads N]`.
"""
import argparse

import torch

from common import median, round_robin
from y2r.timestep_sampling import LossSecondMomentResampler, NaiveResampler


def step_fn(sampler, T, B, g):
    "One training step's worth of sampler work: draw B timesteps, record B losses."
    losses = torch.rand(B, generator=g) + 0.1
    def step():
        t, _ = sampler.sample(B, generator=g)
        sampler.update(t, losses)
    return step


def compare(T, B, rounds, reps):
    "Median seconds per step of the default sampler, its torch ops and the loop, timed round-robin."
    g = torch.Generator().manual_seed(0)
    fast, ops, naive = LossSecondMomentResampler(T), LossSecondMomentResampler(T), NaiveResampler(T)
    ops._numpy = False  # the torch ops, as on a GPU
    warm_t = torch.arange(T).repeat(10)
    for s in (fast, ops, naive): s.update(warm_t, torch.rand(len(warm_t), generator=g) + 0.1)
    times = round_robin(dict(default=(step_fn(fast, T, B, g), reps), torch_ops=(step_fn(ops, T, B, g), reps),
                             loop=(step_fn(naive, T, B, g), max(reps // 20, 3))), rounds)
    return {k: median(v) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--quick', action='store_true', help='only B=256, T=1000')
    ap.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default 1: less noise)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [(1000, 256)] if args.quick else [(T, B) for T in (100, 1000) for B in (32, 256, 4096)]
    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s)')
    print(f"{'T':>6} {'B':>6} {'default us':>11} {'torch ops us':>13} {'loop us':>10} {'loop/default':>13} {'loop/torch':>11}")
    for T, B in sizes:
        m = compare(T, B, rounds=5, reps=200)
        print(f"{T:>6} {B:>6} {m['default'] * 1e6:>11.1f} {m['torch_ops'] * 1e6:>13.1f} {m['loop'] * 1e6:>10.1f}"
              f" {m['loop'] / m['default']:>12.1f}x {m['loop'] / m['torch_ops']:>10.1f}x")


if __name__ == '__main__':
    main()
