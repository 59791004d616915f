#!/usr/bin/env python
"""Make the packaged models: the default run's model, the colour-world run partly trained, and their guidance curves.

    python tools/package_models.py small --run runs/train   # that run's best.pt: y2r/weights/y2r-small
    python tools/package_models.py early     # the colour-world run stopped at step 150: y2r/weights/y2r-small-early
    python tools/package_models.py curves    # guidance.json in every y2r/weights/* folder (`following_curve`, 500 samples)

`y2r-small` is the default run's `best.pt` (`y2r-train`, then `small`: `load_model(...).save_pretrained(...)`). `early`
shows where classifier-free guidance helps, and no checkpoint of today's default run does (see the CFG explorer's
notebook): it is the default run of the colour world, the default until 2026-12-07 (`COLOUR_WORLD_RUN` with
`PREVIOUS_SCHEDULE`), stopped at step 150 of its 700 with `Trainer.fit(until=150)`; its EMA weights are saved with
`save_pretrained`. `curves` measures instruction following against the guidance scale on held-out pushes naming colour
and shape (`demo_world`, seed 1000, in each model's own world: the whole world, or the colour world for the early
model) and writes it next to the weights, so that the explorer draws the curve without computing it. About 1 minute
for `early` and about 4 minutes per model for `curves` on 2 CPU cores.
"""
import argparse, json, sys, time, warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / 'y2r' / 'weights'

def make_early(step: int, out: Path):
    "Train the colour-world default run (`COLOUR_WORLD_RUN`, `PREVIOUS_SCHEDULE`) to `step`; save its EMA weights to `out`."
    from y2r.config import COLOUR_WORLD_RUN, PREVIOUS_SCHEDULE, load_config
    from y2r.train import Trainer
    import tempfile
    cfg = load_config(ROOT / 'configs' / 'train_diffusion.yaml', [*COLOUR_WORLD_RUN, *PREVIOUS_SCHEDULE])
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        tr = Trainer(cfg, run_dir=Path(tmp) / 'run').fit(until=step)
        tr.ema.module.eval().save_pretrained(out)
    card = out / 'README.md'
    card.write_text(card.read_text().rstrip() + f'\n\nThis is the default `y2r-train` run of the colour world (the default until 2026-12-07: `COLOUR_WORLD_RUN` with `PREVIOUS_SCHEDULE` of `y2r.config`) stopped at step {step} of '
                    f'{cfg.training.steps}, with its EMA weights: a model still learning the task, packaged next to `y2r-small` to show '
                    'where classifier-free guidance helps. Made with `python tools/package_models.py early`.\n')
    print(f'wrote {out} (step {tr.step})')

def make_small(run: Path, out: Path):
    "Save the `best.pt` of the run folder `run` (the default `y2r-train` run) as `out`."
    from y2r.checkpoint import load_model
    load_model(run / 'best.pt').save_pretrained(out)
    card = out / 'README.md'
    card.write_text(card.read_text().rstrip() + '\n\nThis is the best checkpoint of the default `y2r-train` run '
                    '(configs/train_diffusion.yaml: the whole synthetic world, 1,500 steps, the attribute loss). '
                    'Made with `python tools/package_models.py small --run <run folder>`.\n')
    print(f'wrote {out} from {run / "best.pt"}')

def make_curves(names, n: int):
    "Write guidance.json into every named packaged folder."
    from y2r.evaluate import COLOUR_WORLD, demo_world, following_curve
    from y2r.pipeline import CURVE_NAME, TrackPipeline
    for name in names:
        t = time.time()
        model = TrackPipeline.from_pretrained(name).model
        world = COLOUR_WORLD if name == 'y2r-small-early' else {}  # each model's own world
        curve = following_curve(model, demo_world(model, **world), n=n, progress=True)
        curve.update(model=name, world='colour world' if world else 'whole world', seconds=round(time.time() - t, 1),
                     command='python tools/package_models.py curves', torch=torch.__version__)
        (WEIGHTS / name / CURVE_NAME).write_text(json.dumps(curve, indent=1) + '\n')
        print(name, {s: f'{k / curve["n"]:.3f}' for s, k in zip(curve['scale'], curve['followed'])}, f'{curve["seconds"]:.0f} s')

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('what', choices=['small', 'early', 'curves'])
    p.add_argument('--run', type=Path, default=Path('runs/train'), help='small: the folder of the default run')
    p.add_argument('--step', type=int, default=150, help='early: training steps')
    p.add_argument('--n', type=int, default=500, help='curves: held-out pushes per scale')
    p.add_argument('--models', nargs='*', default=None, help='curves: folder names under y2r/weights (default: all)')
    a = p.parse_args(argv)
    if a.what == 'small': make_small(a.run, WEIGHTS / 'y2r-small')
    elif a.what == 'early': make_early(a.step, WEIGHTS / 'y2r-small-early')
    else: make_curves(a.models or sorted(d.name for d in WEIGHTS.iterdir() if (d / 'config.json').is_file()), a.n)

if __name__ == '__main__': sys.exit(main())
