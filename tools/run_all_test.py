#!/usr/bin/env python
"""Run All on every teaching notebook in JupyterLab, in headless Chromium, timed: what a student gets.

    python tools/run_all_test.py [--only NB ...] [--out DIR] [--timeout 300] [--chromium PATH]

Needs `jupyterlab`, `playwright` (pip; the browser itself is never downloaded) and Debian's `chromium`. The files git
sees (the repository's nbs/, the library, bench/results/, configs/, pyproject.toml) are copied to a temporary folder,
whose y2r/ the kernels import, so nothing is written into the repository. JupyterLab serves that copy on 127.0.0.1 (as
tools/browser_test.py starts it), and each teaching notebook (`TEACHING` in tools/outputs.py) is opened in turn, its
outputs cleared, and 'Run All Cells' given, as a student would: every cell runs, `#| slow` ones too (JupyterLab
ignores nbdev's flags), and the last one exports the library into the copy. The time counts from Run All until every
code cell has an execution count and the kernel is idle; the kernel's start is not in it. A notebook without
`kernelspec` metadata makes JupyterLab ask which kernel to start: the test picks the preferred one, and notes it.

A table (notebook, seconds, figures, errors, slowest cells) is printed and written to DIR/run_all.json, with each run
notebook (DIR/NB, outputs and cell timings) and a screenshot of a failure. Exit status 1 when a notebook stores an
error output or does not finish within `--timeout` seconds. The speed target (`--target`, 60 s on 2 cores) is
reported with an 'over' mark, never failed on: timings depend on the machine and on what else runs on it.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, urllib.request
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from browser_test import jupyter_lab  # the same JupyterLab: 127.0.0.1, a free port, a random token, always stopped
from outputs import TEACHING

# JavaScript run in the page: the notebook panel whose file is `path`, and how far its run has got.
STATE = """(path) => {
  if (!window.jupyterapp) return null;  // the page is still loading
  const w = Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context?.path === path);
  if (!w?.content?.model) return null;
  const cells = w.content.model.cells, errors = [], times = [];
  let code = 0, done = 0, figures = 0;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code' || !c.sharedModel.getSource().trim()) continue;  // JupyterLab does not send empty cells
    code++;
    if (c.executionCount) done++;
    for (const o of c.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
      if (o.data && ['image/png', 'image/jpeg', 'image/svg+xml'].some(k => k in o.data)) figures++;
    }
    const t = c.getMetadata('execution');
    if (t?.['iopub.execute_input'] && t?.['shell.execute_reply'])
      times.push([i, (Date.parse(t['shell.execute_reply']) - Date.parse(t['iopub.execute_input'])) / 1000]);
  }
  const kernel = w.sessionContext.session?.kernel;
  return {code, done, errors, figures, times, status: kernel?.status ?? 'none', kernel: kernel?.id ?? null};
}"""
# Give a command to the notebook without waiting for it: the promise of Run All settles only when every cell has run.
RUN = """([path, cmd]) => {
  const w = Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context?.path === path);
  window.jupyterapp.shell.activateById(w.id);
  window.jupyterapp.commands.execute(cmd);
}"""
MODEL = """(path) => Array.from(window.jupyterapp.shell.widgets('main'))
  .find(w => w.context?.path === path).content.model.toJSON()"""

def copy_repo(dst: Path):
    "Copy the files git sees (tracked, or untracked and not ignored) to `dst`; every file but .git/ without git"
    git = ['git', '-C', str(REPO), 'ls-files', '-z', '--cached', '--others', '--exclude-standard']
    try: ls = subprocess.run(git, capture_output=True, check=True).stdout.decode().split('\0')
    except (OSError, subprocess.CalledProcessError):
        ls = [str(p.relative_to(REPO)) for p in REPO.rglob('*') if '.git' not in p.parts]
    for f in filter(None, ls):
        src = REPO / f
        if not src.is_file(): continue  # deleted, or a folder
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst / f)  # links become files: configs/train_diffusion.yaml

def settings(root: Path):
    "JupyterLab settings for the run: record each cell's timing in its metadata"
    f = root / '.settings' / '@jupyterlab' / 'notebook-extension' / 'tracker.jupyterlab-settings'
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({'recordTiming': True}))

def shutdown_kernels(url: str, token: str):
    "Stop every kernel of the server, so that the next notebook has the CPUs"
    with urllib.request.urlopen(f'{url}/api/kernels?token={token}', timeout=10) as r: kernels = json.load(r)
    for k in kernels:
        req = urllib.request.Request(f"{url}/api/kernels/{k['id']}?token={token}", method='DELETE')
        urllib.request.urlopen(req, timeout=30).close()

def run_all(browser, url: str, token: str, i: int, name: str, out: Path, timeout_s: float) -> dict:
    "Open nbs/`name`, clear its outputs, Run All, wait until it finished; its time, figures and errors"
    path, res = f'nbs/{name}', dict(notebook=name, seconds=None, figures=0, errors=[], slowest=[])
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    page.set_default_timeout(60_000)
    try:
        t0 = time.time()
        page.goto(f'{url}/lab/workspaces/run{i}/tree/{path}?token={token}')  # a workspace each: no tab from before
        ready = f'(p) => {{ const s = ({STATE})(p); return !!s && s.status === "idle"; }}'
        dialog = page.locator('.jp-Dialog', has_text='Select Kernel')
        while not page.evaluate(ready, path):  # a notebook without `kernelspec` metadata asks which kernel to start
            if dialog.count() and dialog.is_visible():
                dialog.locator('.jp-mod-accept').click()  # the preferred one, as a student would
                res['notes'] = ['JupyterLab asked which kernel to start: the notebook has no kernelspec metadata']
            if time.time() - t0 > 120: raise TimeoutError('the kernel did not start within 120 s')
            time.sleep(0.25)
        res['open_seconds'] = round(time.time() - t0, 1)
        page.evaluate(RUN, [path, 'notebook:clear-all-cell-outputs'])
        cleared = f'(p) => {{ const s = ({STATE})(p); return s.done === 0 && s.figures === 0; }}'
        page.wait_for_function(cleared, arg=path, timeout=30_000)
        t0 = time.time()
        page.evaluate(RUN, [path, 'notebook:run-all-cells'])
        while True:
            time.sleep(0.25)
            st, elapsed = page.evaluate(STATE, path), time.time() - t0
            finished = st['status'] == 'idle' and (st['done'] == st['code'] or st['errors'])
            if finished or elapsed > timeout_s: break
        res.update(seconds=round(elapsed, 1), figures=st['figures'], errors=st['errors'], cells=st['code'],
                   ran=st['done'], slowest=sorted(st['times'], key=lambda t: -t[1])[:3])
        if not finished:
            res['errors'].append(f"did not finish within {timeout_s:g}s ({st['done']} of {st['code']} cells ran)")
            page.evaluate(RUN, [path, 'notebook:interrupt-kernel'])
        (out / name).write_text(json.dumps(page.evaluate(MODEL, path), indent=1))
    except Exception as e:
        res['errors'].append(f'{type(e).__name__}: {str(e).strip().splitlines()[0]}')
    finally:
        if res['errors']:
            try: page.screenshot(path=str(out / f'{Path(name).stem}_failure.png'))
            except Exception: pass
        shutdown_kernels(url, token)
        page.close()
    return res

def table(rows: list[dict], target: float):
    print(f"\n{'notebook':<26} {'seconds':>8} {'figures':>7} {'errors':>6}  slowest cells (index: seconds)")
    for r in rows:
        secs = '-' if r['seconds'] is None else f"{r['seconds']:.1f}"
        mark = f'  over {target:g} s' if r['seconds'] is not None and r['seconds'] > target else ''
        slow = ', '.join(f'{i}: {s:.0f}' for i, s in r['slowest'])
        print(f"{r['notebook']:<26} {secs:>8} {r['figures']:>7} {len(r['errors']):>6}  {slow}{mark}")
        for e in r['errors']: print(f'    {e}')
        for n in r.get('notes', []): print(f'    note: {n}')

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--only', nargs='+', metavar='NB', help='these teaching notebooks (names or paths), not all')
    p.add_argument('--out', type=Path, default=Path(os.environ.get('Y2R_ARTIFACTS', '/tmp/y2r-browser')) / 'run_all')
    p.add_argument('--chromium', default=os.environ.get('CHROMIUM', '/usr/bin/chromium'))
    p.add_argument('--timeout', type=float, default=300, help='seconds a notebook may take before it fails')
    p.add_argument('--target', type=float, default=60, help='seconds a notebook should take (reported only)')
    a = p.parse_args(argv)
    names = [Path(n).name if n.endswith('.ipynb') else f'{Path(n).name}.ipynb' for n in a.only or TEACHING]
    unknown = [n for n in names if n not in TEACHING]
    if unknown: sys.exit(f"not teaching notebooks: {', '.join(unknown)} (the list is TEACHING in tools/outputs.py)")
    if not Path(a.chromium).exists():
        sys.exit(f'no browser at {a.chromium}: apt-get install -y chromium (or pass --chromium)')
    from playwright.sync_api import sync_playwright
    a.out.mkdir(parents=True, exist_ok=True)
    rows, t0 = [], time.time()
    with tempfile.TemporaryDirectory(prefix='y2r-run-all-') as d:
        root = Path(d)
        copy_repo(root)
        settings(root)
        path = filter(None, [str(root), os.environ.get('PYTHONPATH')])
        os.environ['PYTHONPATH'] = os.pathsep.join(path)  # the kernels import the copy's y2r/
        print(f'Run All in JupyterLab on a copy of the repository ({root}), {len(names)} notebook(s), one at a time:')
        with jupyter_lab(root, a.out / 'jupyterlab.log') as (url, token), sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=a.chromium, headless=True,
                                         args=['--no-sandbox', '--disable-gpu'])
            try:
                for i, name in enumerate(names):
                    rows.append(run_all(browser, url, token, i, name, a.out, a.timeout))
                    r = rows[-1]
                    secs = '-' if r['seconds'] is None else r['seconds']
                    status = 'FAIL' if r['errors'] else 'ok'
                    print(f"  {name:<26} {secs:>6}s  {r['figures']} figure(s)  {status}", flush=True)
            finally: browser.close()
    table(rows, a.target)
    summary = dict(when=datetime.now().isoformat(timespec='seconds'), cpus=os.cpu_count(), load=os.getloadavg(),
                   timeout_s=a.timeout, target_s=a.target, notebooks=rows)
    (a.out / 'run_all.json').write_text(json.dumps(summary, indent=1) + '\n')
    bad = [r['notebook'] for r in rows if r['errors']]
    over = [r['notebook'] for r in rows if r['seconds'] is not None and r['seconds'] > a.target]
    print(f"\n{'FAIL' if bad else 'PASS'}: {len(rows) - len(bad)} of {len(rows)} notebooks ran without error in "
          f"{time.time() - t0:.0f}s (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs); "
          f"over {a.target:g} s: {', '.join(over) or 'none'}. Results: {a.out / 'run_all.json'}")
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
