"""Importance sampler speed: `update` + `sample` of `LossSecondMomentResampler` against the per-sample loop.

The sampler (its torch ops, the ones a GPU runs) and the naive loop of `nbs/00a_sampler_demo.ipynb`
(`y2r.sampler_demo.NaiveResampler`) run side by side in one process, interleaved, on warmed-up samplers, so the ratio is what
to read (absolute times on a shared machine are noisy).
Usage: `python bench/timestep_sampler.py [--quick] [--threads N]`.
"""
import argparse

import torch

from common import median, round_robin
from y2r.sampler_demo import NaiveResampler
from y2r.timestep_sampling import LossSecondMomentResampler


def step_fn(sampler, B, g):
    "One training step's worth of sampler work: draw B timesteps, record B losses."
    losses = torch.rand(B, generator=g) + 0.1
    def step():
        t, _ = sampler.sample(B, generator=g)
        sampler.update(t, losses)
    return step


def compare(T, B, rounds, reps):
    "Median seconds per step of the sampler and of the loop, timed round-robin once both hold the same p(t)."
    g = torch.Generator().manual_seed(0)
    fast = LossSecondMomentResampler(T)
    naive = NaiveResampler(T)
    warm_t = torch.arange(T).repeat(10)
    warm_losses = torch.rand(len(warm_t), generator=g) + 0.1
    for s in (fast, naive): s.update(warm_t, warm_losses)
    assert torch.allclose(fast.probs(), naive.probs(), atol=1e-6), 'the sampler and the loop disagree'
    times = round_robin(dict(sampler=(step_fn(fast, B, g), reps), loop=(step_fn(naive, B, g), max(reps // 20, 3))), rounds)
    return {k: median(v) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--quick', action='store_true', help='only B=256, T=1000')
    ap.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default 1: less noise)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [(1000, 256)] if args.quick else [(T, B) for T in (100, 1000) for B in (32, 256, 4096)]
    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s)')
    print(f"{'T':>6} {'B':>6} {'sampler us':>11} {'loop us':>10} {'loop/sampler':>13}")
    for T, B in sizes:
        m = compare(T, B, rounds=5, reps=200)
        print(f"{T:>6} {B:>6} {m['sampler'] * 1e6:>11.1f} {m['loop'] * 1e6:>10.1f} {m['loop'] / m['sampler']:>12.1f}x")


if __name__ == '__main__':
    main()
