"""Open the CFG explorer notebook in JupyterLab in headless Chromium, run it, and drive the explorer on the packaged models.

    python tools/browser_test.py [--notebook nbs/16_cfg_explorer.ipynb] [--out DIR] [--timeout 300]

Needs `jupyterlab`, `ipywidgets`, `playwright` (pip; the browser itself is never downloaded) and Debian's
`chromium` (`apt-get install -y chromium`). JupyterLab listens on 127.0.0.1 only, on a free port, with a
random token, in a temporary folder holding a copy of the notebook (without the cells `#| slow`, `#| cuda` or
`#| notest` mark, as `nbdev-test` runs it); the server and its kernels are stopped whatever happens.

The test drives the explorer on the two packaged models (the first in the notebook): it moves to scene `SCENE` (a
push naming colour and shape where another object shares the colour: the picture shows what the colour-world early
model reads, and what guidance does with it), steps the CFG slider from 3
to 5 with eight key presses and checks that the picture changes, that the last picture is of scale 5 and that
values which arrived while a picture was drawn were skipped rather than queued; then it switches to the early model,
ticks the cond - uncond box, ticks the hands box, narrows the guidance interval to [0.5, 1] and raises the rescale
to 0.2, checking after each that the picture changes (and, for the sliders, that the status line names the new
value). Screenshots (the page, the explorer, the figure after each step) and the server log go to `--out`
(default: `$Y2R_ARTIFACTS`, else /tmp/y2r-browser); `explorer.png` (the early model at CFG 5 with the cond - uncond
panel) is the picture the notebook shows where the widget cannot run (nbs/images/cfg_explorer.png: copy it there
when the explorer's looks change). Exit status 0 when every check passed, 1 otherwise.
"""
import argparse, json, os, re, secrets, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

def free_port() -> int:
    "A TCP port on 127.0.0.1 that nobody listens on right now."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

TST_FLAGS = re.search(r'^tst_flags\s*=\s*"([^"]*)"', (REPO / 'pyproject.toml').read_text(), re.M).group(1).split()
SKIPPED = re.compile(rf'^#\|\s*({"|".join(map(re.escape, TST_FLAGS))})\b', re.M)  # cells `nbdev-test` leaves out

def prepare_notebook(src: Path, dst: Path) -> Path:
    "Copy `src` to `dst` (and its images and experiments) without its outputs, the cells `nbdev-test` skips, and the export cell."
    nb = json.loads(src.read_text())
    nb['cells'] = [c for c in nb['cells'] if 'nbdev_export' not in ''.join(c['source'])
                   and not (c['cell_type'] == 'code' and SKIPPED.search(''.join(c['source'])))]
    for c in nb['cells']:
        if c['cell_type'] == 'code': c['outputs'], c['execution_count'] = [], None
    dst.write_text(json.dumps(nb))
    for folder in ('images', 'experiments'):  # pictures the markdown shows, committed results the notebook reads
        if (src.parent / folder).is_dir(): shutil.copytree(src.parent / folder, dst.parent / folder)
    return dst

@contextmanager
def jupyter_lab(root: Path, log_path: Path, startup_timeout: float = 90):
    "A JupyterLab server on 127.0.0.1 serving `root`; yields its base URL and token; always stopped on exit."
    port, token = free_port(), secrets.token_hex(16)
    # No MPLBACKEND from the caller (CI sets Agg): the kernel must use its inline backend to show figures.
    env = {**{k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}, 'JUPYTER_RUNTIME_DIR': str(root / '.runtime'), 'JUPYTER_CONFIG_DIR': str(root / '.config'),
           'JUPYTERLAB_WORKSPACES_DIR': str(root / '.workspaces'), 'PYTHONUNBUFFERED': '1',
           'JUPYTER_DATA_DIR': str(root / '.data')}  # no user-level kernels: the kernel runs this Python
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', '--ip=127.0.0.1', f'--port={port}',
           '--ServerApp.port_retries=0', f'--ServerApp.token={token}', f'--ServerApp.root_dir={root}',
           '--LabApp.expose_app_in_browser=True', f'--LabApp.user_settings_dir={root / ".settings"}',
           f'--LabApp.workspaces_dir={root / ".workspaces"}', '--LabApp.news_url=None',
           '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate']
    notif = root / '.settings' / '@jupyterlab' / 'apputils-extension' / 'notification.jupyterlab-settings'
    notif.parent.mkdir(parents=True, exist_ok=True)
    notif.write_text(json.dumps({'fetchNews': 'false'}))  # no "get Jupyter news?" toast over the page
    log = open(log_path, 'w')
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + startup_timeout
        while True:
            if proc.poll() is not None: raise RuntimeError(f'JupyterLab exited with {proc.returncode}; see {log_path}')
            try:
                with urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2) as r:
                    if r.status == 200: break
            except OSError: pass
            if time.time() > deadline: raise TimeoutError(f'JupyterLab did not answer within {startup_timeout}s; see {log_path}')
            time.sleep(0.5)
        yield url, token
    finally:
        stop(proc)
        log.close()

def stop(proc: subprocess.Popen, grace: float = 10):
    "Stop the server and everything it started (its kernels): SIGTERM to its process group, then SIGKILL."
    if proc.poll() is None:
        try: os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError: return
        try: proc.wait(grace)
        except subprocess.TimeoutExpired: pass
    try: os.killpg(proc.pid, signal.SIGKILL)  # kernels left behind, if any
    except ProcessLookupError: pass
    proc.wait()

# JavaScript run in the page through the app object that `expose_app_in_browser` publishes.
KERNEL_IDLE = "() => { const w = window.jupyterapp?.shell.currentWidget; const k = w?.sessionContext?.session?.kernel; return !!k && k.status === 'idle'; }"
RUN_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget, cells = w.content.model.cells, errors = [];
  let code = 0, done = 0;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    code++; if (c.executionCount) done++;
    for (const o of c.outputs.toJSON()) if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
  }
  return {code, done, errors, idle: w.sessionContext.session?.kernel?.status === 'idle'};
}"""

def run_notebook(page, timeout_s: float) -> dict:
    "Run every cell with the notebook's 'run all' command; wait until all ran; fail on an error output."
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_s * 1000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        st = page.evaluate(RUN_STATE)
        if st['errors']: raise AssertionError('the notebook raised: ' + '; '.join(st['errors']))
        if st['done'] == st['code'] and st['idle']: return st
        time.sleep(1)
    raise TimeoutError(f'the notebook did not finish within {timeout_s}s: {page.evaluate(RUN_STATE)}')

def move_slider(page, explorer, label: str, presses: int) -> str:
    "Focus the (lower) handle of the slider labelled `label`, press ArrowRight `presses` times; return the readout."
    slider = explorer.locator('.widget-slider').filter(has=page.locator('label', has_text=label)).first
    readout, handle = slider.locator('.widget-readout'), slider.locator('.noUi-handle').first  # a range: its lower end
    before = readout.inner_text()
    handle.focus()
    for _ in range(presses): handle.press('ArrowRight')
    handle.evaluate('h => h.blur()')
    page.wait_for_function('([el, v]) => el.textContent.trim() !== v', arg=[readout.element_handle(), before], timeout=10_000)
    return readout.inner_text()

def wait_drawn(page, status, pattern: str, timeout_s: float = 120) -> str:
    "Wait until the explorer's status line matches `pattern` (a regular expression); return the line."
    page.wait_for_function('([el, p]) => new RegExp(p).test(el.textContent)', arg=[status.element_handle(), pattern],
                           timeout=timeout_s * 1000)
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_s * 1000)
    return status.inner_text()

def redrawn(page, img, status, action, pattern: str = r' drawn in ', timeout_s: float = 120) -> str:
    "Do `action`, wait until the picture is replaced and the status line matches `pattern`; return the line."
    src = img.get_attribute('src')
    action()
    page.wait_for_function('([el, s]) => el.getAttribute("src") !== s', arg=[img.element_handle(), src],
                           timeout=timeout_s * 1000)
    return wait_drawn(page, status, pattern, timeout_s)

def tick(explorer, label: str):
    "Click the checkbox labelled `label`."
    return lambda: explorer.locator('.widget-checkbox', has_text=label).locator('input').click()

def slide(page, explorer, label: str, presses: int, res: dict):
    "An action: press ArrowRight `presses` times on the (lower) handle of the slider `label`; its readout goes to `res`."
    return lambda: res.update({f'readout {label}': move_slider(page, explorer, label, presses)})

SCENE = 7  # of the explorer's held-out scenes: "nudge the scarlet wedge to the left", beside a red square

def packaged_explorer(page):
    "The explorer that offers the early packaged model (the notebook's first)."
    early = page.locator('.widget-toggle-button', has_text='y2r-small-early')
    return page.locator('.y2r-cfg-explorer').filter(has=early).first

def browser_check(url: str, token: str, nb_name: str, out: Path, chromium: str, timeout_s: float) -> dict:
    "Open the notebook, run it, then drive every control of the packaged explorer that changes the picture."
    from playwright.sync_api import sync_playwright
    t0, res, checks = time.time(), {}, {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=['--no-sandbox', '--disable-gpu'])
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1000})
            page.set_default_timeout(60_000)
            page.goto(f'{url}/lab/tree/{nb_name}?token={token}')
            page.wait_for_selector('.jp-Notebook', timeout=60_000)
            res['run'] = run_notebook(page, timeout_s)
            res['run_s'] = round(time.time() - t0, 1)
            explorer = packaged_explorer(page)
            explorer.scroll_into_view_if_needed()
            res['models'] = [t.strip() for t in explorer.locator('.widget-toggle-button').all_text_contents()]
            checks['the explorer offers both packaged models'] = res['models'] == ['y2r-small', 'y2r-small-early']
            status, img = explorer.locator('.widget-html').first, explorer.locator('img.widget-image').first
            res['status_first'] = wait_drawn(page, status, r'y2r-small: CFG 3 drawn')
            scene = lambda: res.update(sample=move_slider(page, explorer, 'sample', SCENE))
            res['status_scene'] = redrawn(page, img, status, scene, r'y2r-small: CFG 3 drawn')
            checks[f'the sample slider moved to scene {SCENE}'] = res['sample'].strip() == str(SCENE)
            img.scroll_into_view_if_needed()
            shots = {'before': img.screenshot(path=str(out / 'figure_before.png'))}
            page.screenshot(path=str(out / 'explorer_before.png'))
            res['readout'] = move_slider(page, explorer, 'CFG scale', presses=8)  # 3 -> 5 in steps of 0.25
            res['status_keys'] = wait_drawn(page, status, r'y2r-small: CFG 5 drawn')
            shots['after'] = img.screenshot(path=str(out / 'figure_after.png'))
            skipped = re.search(r'(\d+) stale values? skipped', res['status_keys'])
            res['skipped'] = int(skipped.group(1)) if skipped else 0
            checks['the picture changed with the scale'] = shots['before'] != shots['after']
            checks['the last picture is of scale 5'] = res['readout'].strip() == '5.00'
            checks['values that came while drawing were skipped, not queued'] = res['skipped'] >= 1
            early = lambda: explorer.locator('.widget-toggle-button', has_text='y2r-small-early').click()
            res['status_model'] = redrawn(page, img, status, early, r'y2r-small-early: CFG 5 drawn')
            shots['model'] = img.screenshot(path=str(out / 'figure_early.png'))
            checks['the picture changed with the model'] = shots['model'] != shots['after']
            steps = dict(  # name: what to do, the status line it ends on
                direction=(tick(explorer, 'cond'), r'CFG 5 drawn'), hands=(tick(explorer, 'hands'), r'CFG 5 drawn'),
                interval=(slide(page, explorer, 'CFG interval', 10, res), r'CFG 5, interval 0.5-1 drawn'),  # 0 -> 0.5
                rescale=(slide(page, explorer, 'rescale', 4, res), r'CFG 5, interval 0.5-1, rescale 0.2 drawn'))
            prev = 'model'
            for name, (action, pattern) in steps.items():
                res[f'status_{name}'] = redrawn(page, img, status, action, pattern)
                shots[name] = img.screenshot(path=str(out / f'figure_{name}.png'))
                checks[f'the picture changed with the {name}'] = shots[name] != shots[prev]
                if name == 'direction': explorer.screenshot(path=str(out / 'explorer.png'))  # the notebook's picture
                prev = name
            page.screenshot(path=str(out / 'explorer_after.png'))
        except Exception:
            try: page.screenshot(path=str(out / 'failure.png'))
            except Exception: pass
            raise
        finally:
            browser.close()
    res.update(checks=checks, total_s=round(time.time() - t0, 1))
    return res

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--notebook', type=Path, default=REPO / 'nbs' / '16_cfg_explorer.ipynb')
    p.add_argument('--out', type=Path, default=Path(os.environ.get('Y2R_ARTIFACTS', '/tmp/y2r-browser')))
    p.add_argument('--chromium', default=os.environ.get('CHROMIUM', '/usr/bin/chromium'))
    p.add_argument('--timeout', type=float, default=300, help='seconds for the whole test')
    a = p.parse_args(argv)
    if not Path(a.chromium).exists(): sys.exit(f'no browser at {a.chromium}: apt-get install -y chromium (or pass --chromium)')
    a.out.mkdir(parents=True, exist_ok=True)
    def on_alarm(*_): raise TimeoutError(f'browser test over its {a.timeout:g}s budget')
    signal.signal(signal.SIGALRM, on_alarm); signal.alarm(int(a.timeout))
    t0 = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix='y2r-browser-') as d:
            root = Path(d)
            nb = prepare_notebook(a.notebook, root / a.notebook.name)
            with jupyter_lab(root, a.out / 'jupyterlab.log') as (url, token):
                res = browser_check(url, token, nb.name, a.out, a.chromium, timeout_s=a.timeout * 0.6)
    except Exception as e:
        print(f'FAIL after {time.time() - t0:.0f}s: {type(e).__name__}: {e}\nartefacts: {a.out}', file=sys.stderr)
        return 1
    finally: signal.alarm(0)
    ok = all(res['checks'].values())
    for name, passed in res['checks'].items(): print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    print(f"  after {res['readout']}: {res['status_keys']}")
    print(f"  last: {res['status_rescale']}")
    print(f"{'PASS' if ok else 'FAIL'}: the explorer on {', '.join(res['models'])}: {res['status_model']} "
          f"({res['run']['code']} cells run in {res['run_s']}s, {time.time() - t0:.0f}s in all)")
    for f in sorted(a.out.glob('*.png')): print('  ', f)
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
