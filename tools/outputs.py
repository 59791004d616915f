#!/usr/bin/env python
"""Keep the teaching notebooks committed with their outputs, and check that those outputs are current.

Students open the teaching notebooks (`TEACHING` below) in JupyterLab or on GitHub and see their figures without
running anything. So these notebooks are committed with their outputs, and nbs/outputs.json records what made them.

    python tools/outputs.py --update [NB ...]  # run the notebooks (default: all teaching notebooks), store outputs
    python tools/outputs.py --check            # exit 1 if a teaching notebook's outputs are stale or lack a figure

`--update` runs each notebook in a fresh kernel from nbs/, as `nbdev-test` runs it: without the cells that
`tst_flags` marks (`#| slow`, `#| notest`, `#| cuda`; their old outputs are removed) and without the cell that
exports the library. It is the run tools/preview_docs.py makes for the docs site, with the repository's own `y2r/`
first on the kernel's path. The outputs are written into the notebook, `nbdev-clean` tidies it (it keeps outputs:
`clear_all` is off), and nbs/outputs.json records, per notebook:
  - `code`: a hash of the sources of its code cells, in order;
  - `inputs`: a hash of what the run read: every file of the package (`y2r/`, but `_modidx.py` and caches) and of
    `configs/`, and the data files its code names (`data`: files under nbs/experiments/ and bench/results/ named by
    their path, or by a folder above them written as a string of its own, such as `'../bench/results'`);
  - `figures`: the ids of the cells that produced an image, and `seconds`, how long the run took.
A notebook whose run raised is not written. A run that creates or changes files under nbs/ or y2r/ (other than
notebooks) is a problem too: a notebook writes its scratch files in a temp dir. Exit status 1 after any problem.

`--check` needs only Python. It recomputes both hashes for every teaching notebook and fails, naming the notebook
and the command that fixes it, when one differs from the record (its code, the library or its data changed since its
outputs were made), when a cell that made a figure has no image stored, when a stored output is an error, or when a
code cell that calls a plotting API outside a function body (`plt.*`, `.plot`, `imshow`, `render_*`, `plot_*`; not
`test_fig_exists` alone, which tests a figure drawn before) has no image, unless the cell is `#| slow`, `#| notest`,
`#| cuda`, `#| hide` or `#| eval: false`, or closes its figures itself (`plt.close`). Outputs that print timings are
stored as they ran: only the inputs are compared.
"""
import argparse, ast, hashlib, json, os, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
LOCK = NBS / 'outputs.json'

# The notebooks a student opens to learn from: committed with their outputs, and run by tools/run_all_test.py.
TEACHING = ['00a_sampler_demo.ipynb', '05_objective.ipynb', '06_sampling.ipynb', '16_cfg_explorer.ipynb',
            '17_tutorial.ipynb', '18_experiments.ipynb', '19_benchmarks.ipynb', '28_grounding.ipynb',
            '29_regimes.ipynb']
LIBRARY = ['y2r', 'configs']                    # every file under these counts for every notebook
DATA = ['nbs/experiments', 'bench/results']     # a file under these counts for the notebooks that name it
IMAGE_TYPES = ('image/png', 'image/jpeg', 'image/svg+xml')
TST_FLAGS = re.search(r'^tst_flags\s*=\s*"([^"]*)"', (ROOT / 'pyproject.toml').read_text(), re.M).group(1).split()
NOT_CHECKED = re.compile(rf'^#\|\s*({"|".join(map(re.escape, TST_FLAGS + ["hide"]))})\b|^#\|\s*eval:\s*false', re.M)
PLOT_NAME = re.compile(r'^(render_|plot_)|^(plot|imshow)$')  # not test_fig_exists: it checks a figure made before
FIX = 'python tools/outputs.py --update'
ABOUT = 'What made the stored outputs of the teaching notebooks; written by tools/outputs.py --update'

# --- What a notebook's outputs depend on
def digest(parts) -> str:
    "A short sha256 of `parts` (strings or bytes), each length-prefixed so that no two lists collide"
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, 'little') + b)
    return h.hexdigest()[:16]

def read_nb(path: Path) -> dict: return json.loads(path.read_text(encoding='utf-8'))
def src(cell: dict) -> str: return ''.join(cell.get('source', []))
def code_cells(nb: dict): return [(i, c) for i, c in enumerate(nb['cells']) if c['cell_type'] == 'code']
def code_hash(nb: dict) -> str: return digest(src(c) for _, c in code_cells(nb))

def files_under(top: Path):
    "The files under `top`, sorted, without caches, hidden files and the doc-link index `_modidx.py`"
    for p in sorted(top.rglob('*')):
        rel = p.relative_to(top).parts
        if p.is_file() and p.name != '_modidx.py' and not any(s.startswith('.') or s == '__pycache__' for s in rel) \
           and p.suffix != '.pyc': yield p

def data_files(nb: dict) -> list[str]:
    "The files under `DATA` that the notebook's code names, as paths from the repository root"
    code = '\n'.join(src(c) for _, c in code_cells(nb))
    found = []
    for top in DATA:
        for f in files_under(ROOT / top):
            rel = f.relative_to(ROOT).as_posix()
            nbrel = os.path.relpath(f, NBS).replace(os.sep, '/').removeprefix('../')  # experiments/x.json, bench/...
            folders = [Path(nbrel).parents[i].as_posix() for i in range(len(Path(nbrel).parents) - 1)]
            named = (rf'''['"](\.\./)?{re.escape(d)}/?(['"]|/\{{)''' for d in folders)  # 'dir', 'dir/', f'dir/{x}'
            if nbrel in code or any(re.search(pat, code) for pat in named): found.append(rel)
    return found

def file_bytes(f: Path) -> bytes: return f.read_bytes().replace(b'\r\n', b'\n')  # the same on a Windows checkout

def inputs_hash(data: list[str]) -> str:
    "A hash of every library file and of the notebook's data files, with their paths"
    files = [f for top in LIBRARY for f in files_under(ROOT / top)] + [ROOT / d for d in data]
    return digest(x for f in files for x in (f.relative_to(ROOT).as_posix(), file_bytes(f)))

def record(nb: dict, seconds: float) -> dict:
    "The lock entry for the notebook `nb`, as it is stored now"
    data = data_files(nb)
    return dict(code=code_hash(nb), inputs=inputs_hash(data), data=data, figures=figure_cells(nb),
                seconds=round(seconds, 1))

# --- What the stored outputs hold
def has_image(cell: dict) -> bool:
    return any(k in o.get('data', {}) for o in cell.get('outputs', []) for k in IMAGE_TYPES)

def figure_cells(nb: dict) -> list[str]: return [c['id'] for _, c in code_cells(nb) if has_image(c)]

def plot_calls(source: str) -> list[str]:
    "The plotting calls a cell makes outside function and class bodies; [] if it closes its figures (`plt.close`)"
    lines = [l[:len(l) - len(l.lstrip())] + 'pass' if l.lstrip().startswith(('%', '!')) else l
             for l in source.splitlines()]  # IPython magics and shell lines
    try: tree = ast.parse('\n'.join(lines))
    except SyntaxError: return re.findall(r'plt\.\w+|\.plot\(|imshow|\brender_\w+|\bplot_\w+', source)
    calls, todo = [], [tree]  # depth first, in source order
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)): continue
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ''
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == 'plt':
                if name == 'close': return []
                calls.append(f'plt.{name}')
            elif PLOT_NAME.search(name): calls.append(name)
        todo.extend(reversed(list(ast.iter_child_nodes(node))))
    return calls

def problems(name: str, nb: dict, rec: dict | None) -> list[str]:
    "What is wrong with the stored outputs of notebook `name` against its lock entry `rec`"
    fix = f'{FIX} nbs/{name}'
    if rec is None: return [f'no outputs recorded in {LOCK.relative_to(ROOT)}: run `{fix}`']
    out = []
    if code_hash(nb) != rec['code']: out.append(f'its code changed since its outputs were made: run `{fix}`')
    elif inputs_hash(data_files(nb)) != rec['inputs']:
        data = ', '.join(rec['data']) or 'none'
        out.append(f'the library, configs/ or its data ({data}) changed since its outputs were made: run `{fix}`')
    if out: return out
    for i, c in code_cells(nb):
        if c.get('id') in rec['figures'] and not has_image(c):
            out.append(f'cell {i} made a figure when run, but none is stored: run `{fix}`')
        errs = [o for o in c.get('outputs', []) if o.get('output_type') == 'error']
        if errs: out.append(f"cell {i} stores an error ({errs[0].get('ename')}): fix the notebook, then run `{fix}`")
        exempt = NOT_CHECKED.search(src(c)) or has_image(c) or c.get('id') in rec['figures']
        calls = [] if exempt else plot_calls(src(c))
        if calls: out.append(f"cell {i} calls {', '.join(dict.fromkeys(calls))} but stores no image: run `{fix}` "
                             '(or end the cell with plt.close() if it draws nothing to show)')
    return out

def load_lock() -> dict:
    return read_nb(LOCK) if LOCK.exists() else dict(about=ABOUT, notebooks={})

def check(names: list[str]) -> int:
    lock, bad = load_lock()['notebooks'], 0
    print(f'Stored outputs of {len(names)} teaching notebook(s) against {LOCK.relative_to(ROOT)} '
          f"(code, library and data hashes; figures; errors):")
    for name in names:
        path = NBS / name
        if path.exists(): errs = problems(name, read_nb(path), lock.get(name))
        else: errs = [f'{path.relative_to(ROOT)} does not exist: take it out of TEACHING in tools/outputs.py']
        rec = lock.get(name, {})
        print(f"  {name:<26} {'FAIL' if errs else 'ok'}: {len(rec.get('figures', []))} figure(s), "
              f"{len(rec.get('data', []))} data file(s) recorded")
        for e in errs: print(f'      {e}')
        bad += bool(errs)
    if bad: print(f'FAIL: {bad} teaching notebook(s) need their outputs refreshed (commands above)', file=sys.stderr)
    else: print('ok: every teaching notebook stores the outputs of its current code and inputs')
    return 1 if bad else 0

# --- Running a notebook and storing its outputs
def tree_snapshot() -> dict:
    "Size and mtime of every file under nbs/ and y2r/ (caches left out)"
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for top in (NBS, ROOT / 'y2r') for p in top.rglob('*')
            if p.is_file() and '__pycache__' not in p.parts}

def update_one(name: str) -> bool:
    "Run nbs/`name`, store its outputs and its lock entry; True if it ran without error and checks clean"
    import nbformat
    sys.path.insert(0, str(ROOT / 'tools'))
    from preview_docs import cells_to_skip, execute  # the docs site's run: as nbdev-test, in a fresh kernel
    path = NBS / name
    before_src, before = code_hash(read_nb(path)), tree_snapshot()
    t0 = time.time()
    nb, err = execute(path, TST_FLAGS)
    seconds = time.time() - t0
    if err:
        print(f'  {name:<26} FAILED after {seconds:.0f}s at {err}; the notebook is left as it was')
        return False
    if code_hash(read_nb(path)) != before_src:
        print(f'  {name:<26} changed on disk while it ran; not written: run it again')
        return False
    for i in cells_to_skip(path, TST_FLAGS):  # cells not run keep no outputs from an older run
        nb.cells[i].outputs, nb.cells[i].execution_count = [], None
    nbformat.write(nb, path)
    clean = Path(sys.executable).parent / 'nbdev-clean'
    subprocess.run([str(clean) if clean.exists() else 'nbdev-clean', '--fname', str(path)], cwd=ROOT, check=True)
    changed = sorted(str(p.relative_to(ROOT)) for p, st in tree_snapshot().items()  # not other notebooks' edits
                     if before.get(p) != st and (p.suffix != '.ipynb' or p not in before))
    changed += sorted(str(p.relative_to(ROOT)) + ' (deleted)' for p in before if not p.exists())
    stored = read_nb(path)
    entries = load_lock()['notebooks'] | {name: record(stored, seconds)}
    entries = {k: entries[k] for k in TEACHING if k in entries}  # in the order of TEACHING
    text = json.dumps(dict(about=ABOUT, notebooks=entries), indent=1)
    one_line = lambda m: json.dumps(json.loads(m.group()))  # each list on one line
    LOCK.write_text(re.sub(r'\[[^\[\]{}]*\]', one_line, text) + '\n')
    rec = entries[name]
    errs = problems(name, stored, rec)
    status = 'PROBLEM' if errs or changed else 'ok'
    print(f"  {name:<26} {seconds:6.1f}s  {len(rec['figures'])} figure(s)  {status}")
    if changed: errs.append(f"files under nbs/ or y2r/ changed while it ran: {', '.join(changed)} (a notebook "
                            'writes its scratch files in a temp dir)')
    for e in errs: print(f'      {e}')
    return not errs

def update(names: list[str]) -> int:
    os.environ.pop('MPLBACKEND', None)  # the kernel's inline backend draws the figures
    path = [str(ROOT), *filter(None, [os.environ.get('PYTHONPATH')])]
    os.environ['PYTHONPATH'] = os.pathsep.join(path)  # the kernel imports this repository's y2r/
    print(f'Running {len(names)} teaching notebook(s) from nbs/ and storing their outputs:')
    results = [update_one(n) for n in names]
    print(f'{sum(results)} of {len(results)} stored without a problem (the others: see above)')
    return 0 if all(results) else 1

def notebook_names(args: list[str]) -> list[str]:
    "Teaching notebook file names from paths or names (`nbs/17_tutorial.ipynb`, `17_tutorial`); all if none"
    names = [Path(a).name if a.endswith('.ipynb') else f'{Path(a).name}.ipynb' for a in args] or TEACHING
    other = [n for n in names if n not in TEACHING]
    if other: sys.exit(f"not teaching notebooks: {', '.join(other)} (the list is TEACHING in tools/outputs.py)")
    return names

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--update', action='store_true', help='run the notebooks and store their outputs and lock entries')
    g.add_argument('--check', action='store_true', help='exit 1 if stored outputs are stale or lack a figure')
    p.add_argument('notebooks', nargs='*', help='teaching notebooks (default: all of them)')
    a = p.parse_args(argv)
    names = notebook_names(a.notebooks)
    return update(names) if a.update else check(names)

if __name__ == '__main__': sys.exit(main())
