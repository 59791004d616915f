"""Synthetic-world throughput on one CPU core: samples per second, alone and batched.

    python bench/data_throughput.py [--n 4000] [--image-size 64] [--frame-stack 1] [--batch-size 64]

The target is at least 2,000 samples/s on one core for the default 64x64 world, so that data
generation never limits training of the small default model. Training goes through the DataLoader,
which hands the world a whole batch of indices (`__getitems__`) that it generates with vectorised
numpy; `world[i]` is a batch of one and pays numpy's per-call overhead for every sample.
"""
import argparse, os, time

import torch
from torch.utils.data import DataLoader

from y2r.contract import collate_tracks
from y2r.world.scenes import WorldConfig
from y2r.world.dataset import SyntheticWorld


def rate(fn, n):
    "Calls of `fn` per second over `n` calls, after a short warm-up"
    for _ in range(min(50, n)): fn()
    t0 = time.perf_counter()
    for _ in range(n): fn()
    return n / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=4000, help='samples to time')
    p.add_argument('--image-size', type=int, default=WorldConfig.image_size)
    p.add_argument('--num-points', type=int, default=WorldConfig.num_points)
    p.add_argument('--num-future-steps', type=int, default=WorldConfig.num_future_steps)
    p.add_argument('--frame-stack', type=int, default=WorldConfig.frame_stack)
    p.add_argument('--batch-size', type=int, default=64)
    a = p.parse_args()
    torch.set_num_threads(1)
    if hasattr(os, 'sched_setaffinity'): os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cfg = WorldConfig(image_size=a.image_size, num_points=a.num_points, num_future_steps=a.num_future_steps,
                      frame_stack=a.frame_stack)
    world = SyntheticWorld(cfg, length=a.n)
    world.disp_stats  # computed once, outside the timing
    it = iter(range(10**9))
    single = rate(lambda: world[next(it) % a.n], a.n)
    dl = DataLoader(world, batch_size=a.batch_size, num_workers=0, collate_fn=collate_tracks)
    t0 = time.perf_counter()
    n = 0
    for b in dl: n += len(b['text'])
    batched = n / (time.perf_counter() - t0)
    size = f'{cfg.image_size}x{cfg.image_size}'
    print(f'config: {size}, N={cfg.num_points}, T={cfg.num_future_steps}, F={cfg.frame_stack}; '
          f'torch {torch.__version__}, 1 thread, 1 core')
    print(f'world[i]:                    {single:8.0f} samples/s')
    print(f'DataLoader(batch {a.batch_size}, 0 workers): {batched:8.0f} samples/s')


if __name__ == '__main__': main()
