"""Classifier-free guidance sampling: the naive two-pass loop against batched and sequential guidance.

Usage: python bench/cfg_sampling.py [--rounds 5] [--batch-sizes 1 16] [--points 16] [--sweep]

The default model (`ModelConfig()`: T=8) on inputs shaped like the synthetic world's defaults (16 query points, one
hand, 64x64 frames), 10 DDIM steps, guidance scale 3. Every method is timed in the same run, round-robin, and reported as the median over `--rounds`, so that
the ratios compare like with like on a shared machine. Before timing, the outputs are checked to agree.
`--sweep` also times one denoising step at B and 2B over a range of batch sizes: where, if anywhere, the doubled
batch stops paying on this machine (batched is the default; `guidance_mode="sequential"` saves memory).
"""
import argparse, copy, platform, statistics, time

import torch
from diffusers.utils.torch_utils import randn_tensor

from y2r.models.diffusion_model import DiffusionIntentTracker
from y2r.models.encoders import Tokenizer
from y2r.models.config import ModelConfig
from y2r.models.network import open_gates
from y2r.models.sampling import denoise_flat, forward_with_cfg, impose_slot_state, pack_state, sampling_condition, unpack_state

INSTRUCTIONS = ["push the red block left", "pick up the blue ball", "push the green cube to the right",
                "move the yellow ball forward", "stack the red block on the blue block"]
N_POINTS, N_HANDS, SIZE, STEPS, SCALE = 16, 1, 64, 10, 3.0  # --points and --size override the first and third


def make_model() -> DiffusionIntentTracker:
    "The default model, with its zero-initialised heads and gates opened so that outputs depend on the inputs."
    model = DiffusionIntentTracker(ModelConfig(image_size=SIZE, vocab=Tokenizer.from_texts(INSTRUCTIONS).vocab))
    return open_gates(model).eval()


def make_inputs(B: int, seed: int = 0, device='cpu') -> dict:
    "A batch of `B` random frames, query points, instructions and hands (drawn on the CPU, then moved to `device`)."
    g = torch.Generator().manual_seed(seed)
    inputs = dict(frames=torch.rand(B, 1, 3, SIZE, SIZE, generator=g) * 2 - 1, query_coords=torch.rand(B, N_POINTS, 2, generator=g),
                  text=[INSTRUCTIONS[i % len(INSTRUCTIONS)] for i in range(B)],
                  hand_query_uvd=torch.rand(B, N_HANDS, 3, generator=g), hand_query_rot=torch.randn(B, N_HANDS, 6, generator=g))
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}


@torch.no_grad()
def naive_predict(model, inputs: dict, scale: float, generator) -> torch.Tensor:
    "The naive loop (the sampling notebook's `naive_cfg_predict`): two full forward passes per step, everything re-encoded."
    ddim = copy.deepcopy(model.inference_scheduler)
    dev = inputs['frames'].device
    ddim.set_timesteps(STEPS, device=dev)
    B, N, Hh, S = len(inputs['text']), inputs['query_coords'].shape[1], N_HANDS, model.config.num_future_steps + 1
    x = impose_slot_state(randn_tensor((B, (2 * N + 9 * Hh) * S), generator=generator, device=dev), N, S, Hh)
    for t in ddim.timesteps:
        track, hand = unpack_state(x, N, S, Hh)
        cond = model(**inputs, noisy_traj=track, timestep=t, noisy_hand_traj=hand)
        uncond = model(**inputs, noisy_traj=track, timestep=t, noisy_hand_traj=hand, drop_text=True)
        out = {k: uncond[k] + scale * (cond[k] - uncond[k]) for k in cond}
        x = impose_slot_state(ddim.step(pack_state(out['track_noise'], out['hand_noise']), t, x).prev_sample, N, S, Hh)
    return unpack_state(x, N, S, Hh)[0][:, :, 1:]


def methods(model, inputs: dict) -> dict:
    "Name -> function of a generator returning the sampled track displacements."
    p = lambda **kw: (lambda g: model.predict(**inputs, num_inference_steps=STEPS, generator=g, **kw)['track_disp'])
    return {'naive two-pass': lambda g: naive_predict(model, inputs, SCALE, g),
            'batched': p(guidance_scale=SCALE, guidance_mode='batched'),
            'sequential': p(guidance_scale=SCALE, guidance_mode='sequential'),
            'batched, interval (0.5, 1)': p(guidance_scale=SCALE, guidance_interval=(0.5, 1.0)),
            'unguided (scale 1)': p(guidance_scale=1.0)}


def median_ms(fn, rounds: int) -> float:
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def bench_batch(model, B: int, rounds: int) -> dict:
    inputs, seed = make_inputs(B), lambda: torch.Generator().manual_seed(0)
    fns = methods(model, inputs)
    outs = {k: f(seed()) for k, f in fns.items()}  # also the warm-up
    for k in ('batched', 'sequential'):
        err = (outs[k] - outs['naive two-pass']).abs().max().item()
        assert err < 1e-4, f"{k} differs from the naive loop by {err}"
    times = {k: [] for k in fns}
    for _ in range(rounds):  # round-robin: every method sees the same machine load
        for k, f in fns.items():
            t0 = time.perf_counter(); f(seed()); times[k].append(time.perf_counter() - t0)
    med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    tokens = B * (N_POINTS + N_HANDS) * (model.config.num_future_steps + 1)
    print(f"\nB={B}  ({tokens} tokens per branch; "
          f"max |batched - naive| = {(outs['batched'] - outs['naive two-pass']).abs().max().item():.1e})")
    print(f"  {'method':<26}{'ms / call':>10}{'naive / this':>14}{'this / unguided':>17}")
    for k, v in med.items():
        print(f"  {k:<26}{v:>10.1f}{med['naive two-pass'] / v:>13.2f}x{v / med['unguided (scale 1)']:>16.2f}x")
    return med


@torch.no_grad()
def where_the_time_goes(model, B: int, rounds: int):
    "Time the parts of one guided predict call: encoding once, one step at B and at 2B, and what the naive loop redoes."
    inputs, S = make_inputs(B), model.config.num_future_steps + 1
    dims = model.check_inputs(**inputs)
    cond = sampling_condition(model, **inputs, doubled=True)
    x = torch.randn(B, (2 * N_POINTS + 9 * N_HANDS) * S)
    t = torch.tensor(50)
    parts = {'encode once (image, text, null, K/V)': lambda: sampling_condition(model, **inputs, doubled=True),
             'one step, one branch (B)': lambda: denoise_flat(model, cond[:B], x, t, dims),
             'one step, doubled batch (2B)': lambda: forward_with_cfg(model, cond, x, t, dims, SCALE),
             'naive: encoding in one forward pass': lambda: model.condition(**inputs)}
    for f in parts.values(): f()
    print(f"  where the time goes, B={B}:")
    for k, f in parts.items(): print(f"    {k:<40}{median_ms(f, 2 * rounds):>8.2f} ms")


@torch.no_grad()
def sweep(model, rounds: int):
    "One denoising step at B and 2B: where does the doubled batch stop paying?"
    print("\nsweep: one step, sequential (2 x B) against batched (2B)")
    print(f"  {'B':>4}{'tokens':>8}{'2 x B (ms)':>12}{'2B (ms)':>10}{'seq / batched':>15}")
    S = model.config.num_future_steps + 1
    for B in (1, 2, 4, 6, 8, 12, 16, 24, 32):
        inputs = make_inputs(B)
        dims = model.check_inputs(**inputs)
        cond = sampling_condition(model, **inputs, doubled=True)
        x = torch.randn(B, (2 * N_POINTS + 9 * N_HANDS) * S)
        t = torch.tensor(50)
        seq = lambda: forward_with_cfg(model, cond, x, t, dims, SCALE, mode='sequential')
        bat = lambda: forward_with_cfg(model, cond, x, t, dims, SCALE)
        seq(); bat()
        ts, tb = [], []
        for _ in range(2 * rounds):  # alternate, so both see the same load
            t0 = time.perf_counter(); seq(); ts.append(time.perf_counter() - t0)
            t0 = time.perf_counter(); bat(); tb.append(time.perf_counter() - t0)
        s, b = 1e3 * statistics.median(ts), 1e3 * statistics.median(tb)
        print(f"  {B:>4}{B * (N_POINTS + N_HANDS) * S:>8}{s:>12.1f}{b:>10.1f}{s / b:>14.2f}x")


def main():
    global N_POINTS, SIZE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rounds', type=int, default=5, help='timed calls per method (median reported)')
    ap.add_argument('--batch-sizes', type=int, nargs='*', default=[1, 16], help='batch sizes of the main table (none: skip it)')
    ap.add_argument('--points', type=int, default=N_POINTS, help='query points per sample')
    ap.add_argument('--size', type=int, default=SIZE, help='frame height and width')
    ap.add_argument('--sweep', action='store_true', help='also find the batched/sequential crossover')
    args = ap.parse_args()
    N_POINTS, SIZE = args.points, args.size
    torch.manual_seed(0)
    model = make_model()
    c = model.config
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
          f"model: hidden {c.hidden_size}, depth {c.depth}, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    print(f"N={N_POINTS} points, Hh={N_HANDS} hand, T={c.num_future_steps}, {SIZE}x{SIZE} frames, {STEPS} DDIM steps, "
          f"guidance scale {SCALE}, median of {args.rounds} rounds")
    for B in args.batch_sizes:
        bench_batch(model, B, args.rounds)
        where_the_time_goes(model, B, args.rounds)
    if args.sweep: sweep(model, args.rounds)


if __name__ == '__main__':
    main()
