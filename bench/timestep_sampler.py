"""Importance sampler speed: `update` + `sample` of `LossSecondMomentResampler` against the per-sample loop.

Both run side by side in one process, interleaved, on warmed-up samplers, so the ratio is what to read (absolute
times on a shared machine are noisy). Usage: `python bench/timestep_sampler.py [--quick] [--threads N]`.
"""
import argparse, statistics, time

import torch

from y2r.timestep_sampling import LossSecondMomentResampler, NaiveResampler


def step_fn(sampler, T, B, g):
    "One training step's worth of sampler work: draw B timesteps, record B losses."
    losses = torch.rand(B, generator=g) + 0.1
    def step():
        t, _ = sampler.sample(B, generator=g)
        sampler.update(t, losses)
    return step


def time_it(fn, reps):
    "Median seconds per call over `reps` calls."
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(T, B, rounds, reps):
    "Median time per step of both samplers, measured in alternating rounds."
    g = torch.Generator().manual_seed(0)
    fast, naive = LossSecondMomentResampler(T), NaiveResampler(T)
    warm_t = torch.arange(T).repeat(10)
    fast.update(warm_t, torch.rand(len(warm_t), generator=g) + 0.1)
    naive.update(warm_t, torch.rand(len(warm_t), generator=g) + 0.1)
    f, n = step_fn(fast, T, B, g), step_fn(naive, T, B, g)
    tf, tn = [], []
    for _ in range(rounds):
        tf.append(time_it(f, reps)); tn.append(time_it(n, max(reps // 20, 3)))
    return statistics.median(tf), statistics.median(tn)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--quick', action='store_true', help='only B=256, T=1000')
    ap.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default 1: less noise)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [(1000, 256)] if args.quick else [(T, B) for T in (100, 1000) for B in (32, 256, 4096)]
    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s)')
    print(f"{'T':>6} {'B':>6} {'vectorised us':>14} {'loop us':>10} {'speed-up':>9}")
    for T, B in sizes:
        tf, tn = compare(T, B, rounds=5, reps=200)
        print(f'{T:>6} {B:>6} {tf * 1e6:>14.1f} {tn * 1e6:>10.1f} {tn / tf:>8.1f}x')


if __name__ == '__main__':
    main()
