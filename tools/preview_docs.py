#!/usr/bin/env python
"""Render every notebook into a static HTML site with a sidebar, offline and without Quarto, and check it in Chromium.

`nbdev-preview` needs Quarto. This script builds a stand-in with what `pip install -e ".[dev]"` provides. Each notebook in
nbs/ (home page `index.ipynb` first, then by file name; names starting with `_` left out) is run in a fresh kernel, as
`nbdev-test` runs it: with nbs/ as working directory and without the cells `tst_flags` marks (`#| slow`, ...). nbdev's doc
processors then prepare it as for the docs site, as tools/make_readme.py does for the README (hidden cells, `#| export`
cells, `show_doc`, title and description), and nbconvert's `HTMLExporter` writes the page with figures inline, around the
template tools/preview_docs.html.j2 (sidebar, previous/next links). Pages load nothing from the network; maths is drawn
as MathML (`latex2mathml`), which the browser renders without a script.

    python tools/preview_docs.py                # run the notebooks, write _docs_preview/
    python tools/preview_docs.py --no-execute   # use the outputs stored in the notebooks (fast, but few figures)
    python tools/preview_docs.py --check        # then open every page in headless Chromium and check it
    python tools/preview_docs.py --serve        # then serve the site on http://127.0.0.1:8000/ (Ctrl-C stops)
    python tools/preview_docs.py --out DIR      # write the site to DIR instead
    python tools/preview_docs.py --execute-in-place   # only run the notebooks and save their outputs into them

Pages are named as on the docs site (`15_train.ipynb` -> `train.html`), so links between notebooks and backticked names
(`load_model` -> `checkpoint.html#load_model`) work here, and headings get the ids Quarto gives them.

The deployed site is built the same way: its workflow runs `--execute-in-place` (the same `execute` as here) and then
`nbdev-docs` renders the notebooks with their outputs, so the figures and tables checked here are the ones published.

A notebook that fails to run, or whose cell runs past the 600 s limit, is still rendered, up to its error, which the
page shows. A cell that nbdev's `show_doc` step cannot run (`nbdev-docs` would stop there) is a warning. `--check` loads
every page from a local HTTP server in headless Chromium (`/usr/bin/chromium`, or `--chromium`), saves a screenshot of
each in DIR/_screenshots, prints a table, and exits 1 on a problem of the site: a page cut short (its notebook stopped),
a page that does not load, a script error, a missing or wrong sidebar, a link to a missing page, file or heading, a
figure that did not make it into its page, maths left as TeX. Links from backticked names to headings that do not exist
(a private name has no `show_doc`) are warnings.
"""
import argparse, functools, html, json, os, posixpath, re, shutil, sys, threading, time, warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

try:  # nbdev, nbconvert and nbformat come with the dev extra
    import nbformat
    from jinja2 import FileSystemLoader
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor
    from fastcore.nbio import dict2nb, read_nb
    from fastcore.xtras import modified_env, working_directory
    from nbdev import processors
    from nbdev.config import get_config, nbpath2html
    from nbdev.test import nb_test_cells
    from make_readme import ProjectLookup, _joined, project_lookup, to_nbformat
except ImportError as e:
    sys.exit(f'preview_docs: {e}. Install the dev tools first: pip install -e ".[dev]"')

MARKER = '.preview_docs'  # marks a folder this script wrote, so that rebuilding may delete its old pages

@dataclass
class Page:
    "A notebook, its page in the site, and what building the page found"
    nb: Path
    href: str                 # `train.html` for `15_train.ipynb`, as on the docs site
    title: str                # the notebook's `# Title`
    section: str = ''         # its section in the sidebar ('' for the home page)
    run: str = ''             # 'ok', 'stopped' (an error), 'stored' (not run), 'failed' (not rendered)
    error: str = ''           # why the run stopped or the page could not be rendered, shown on top of the page
    notes: list = field(default_factory=list)   # warnings from nbdev's doc processing, listed on the page
    figures: int = 0          # images among the page's outputs
    seconds: float = 0
    @property
    def warnings(self): return self.notes

def nb_title(path: Path) -> str:
    "The `# Title` of the notebook's first markdown cell (its file name if it has none or cannot be read)"
    try: cells = json.loads(path.read_text(encoding='utf-8'))['cells']
    except (OSError, ValueError, KeyError): return path.stem
    md = next((''.join(c['source']) for c in cells if c['cell_type'] == 'markdown'), '')
    m = re.search(r'^#\s+(.+?)\s*$', md, re.M)
    return m.group(1) if m else path.stem

def sidebar_order(nbs: Path) -> list[tuple[str, str]]:
    "(section, notebook name) in the order of `nbs/sidebar.yml`, the docs site's sidebar; section '' for top-level pages"
    import yaml
    out = []
    def walk(items, section):
        for it in items:
            if isinstance(it, str): out.append((section, it))
            else: walk(it.get('contents', []), it.get('section', section))
    walk(yaml.safe_load((nbs/'sidebar.yml').read_text(encoding='utf-8'))['website']['sidebar']['contents'], '')
    return out

def find_pages(nbs: Path) -> list[Page]:
    "The notebooks of `nbs` that make pages, in the order and sections of `nbs/sidebar.yml`; every notebook must be there once"
    paths = {p.name: p for p in nbs.glob('*.ipynb') if not p.name.startswith('_')}
    order = sidebar_order(nbs)
    listed = [name for _, name in order]
    missing, unknown = sorted(set(paths) - set(listed)), sorted(set(listed) - set(paths))
    twice = sorted({n for n in listed if listed.count(n) > 1})
    if missing or unknown or twice:
        sys.exit(f'nbs/sidebar.yml must list every notebook once: missing {missing}, no such notebook {unknown}, '
                 f'listed twice {twice}')
    return [Page(paths[n], nbpath2html(paths[n]).name, nb_title(paths[n]), section) for section, n in order]

# --- Running a notebook as `nbdev-test` does
class SkippingExecutePreprocessor(ExecutePreprocessor):
    "`ExecutePreprocessor` that leaves out the cells whose indices are in `skip`"
    skip = frozenset()
    def preprocess_cell(self, cell, resources, index):
        if index in self.skip: return cell, resources
        return super().preprocess_cell(cell, resources, index)

def cells_to_skip(path: Path, flags: list[str]) -> set[int]:
    "Indices of the code cells `nbdev-test` would not run (`tst_flags`, `eval: false`, ...) and of the one exporting the library"
    run = {c.idx_ for c in nb_test_cells(path, skip_flags=flags)}
    return {c.idx_ for c in read_nb(path).cells
            if c.cell_type == 'code' and (c.idx_ not in run or 'nbdev_export(' in c.source)}  # exporting would rewrite y2r/

def first_error(nb) -> str:
    "'cell N: Name: message' for the first error output in `nb`"
    for i, c in enumerate(nb.cells):
        for o in c.get('outputs', []):
            if o.output_type == 'error': return f'cell {i}: {o.ename}: {o.evalue}'
    return ''

def execute(path: Path, flags: list[str], timeout: int = 600):
    "The notebook at `path` run in a fresh kernel from its folder, and why the run stopped ('' if it did not)"
    nb = nbformat.read(path, as_version=4)
    ep = SkippingExecutePreprocessor(timeout=timeout, kernel_name=nb.metadata.get('kernelspec', {}).get('name', 'python3'),
                                     extra_arguments=['--IPKernelApp.log_level=ERROR'])  # not its warning about TCP on every start
    ep.skip = frozenset(cells_to_skip(path, flags))
    try: ep.preprocess(nb, {'metadata': {'path': str(path.parent)}})
    except Exception as e: return nb, first_error(nb) or f'{type(e).__name__}: {str(e).strip().splitlines()[0]}'
    return nb, ''

# --- nbdev's doc processors, linking to this site and noting (not stopping at) a cell `show_doc` cannot run
_attr_link = r'\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}'   # [text](url){attributes}
_re_attr_link_line = re.compile(rf'^{_attr_link}[ \t]*$', re.M)

def html_attr_links(md: str) -> str:
    "Pandoc links with attributes (`[source](url){target=...}` in `show_doc` output) in a form nbconvert renders"
    md = _re_attr_link_line.sub(r'<div><a href="\2" \3>\1</a></div>', md)  # alone on its line: an HTML block, kept as is
    return re.sub(_attr_link, r'[\1](\2)', md)   # inline HTML would lose its text: drop the attributes

def make_link_proc(lookup: ProjectLookup):
    "A replacement for nbdev's `add_links` that links backticked names to this site's pages"
    def add_local_links(cell):
        if cell.cell_type == 'markdown' and cell.source: cell.source = lookup.linkify(cell.source)
        for o in cell.get('outputs', []):   # `show_doc` output
            md = o.get('data', {}).get('text/markdown')
            if md: o['data']['text/markdown'] = html_attr_links(lookup.linkify(_joined(md)))
    return add_local_links

class keep_outputs_show_docs(processors.exec_show_docs):
    "nbdev's `exec_show_docs`, keeping the outputs of the run and noting, instead of raising, an error"
    def __call__(self, cell):
        if cell.cell_type != 'code' or processors._is_showdoc(cell): return self.run_noting(cell)
        outs, count = cell.get('outputs', []), cell.get('execution_count')
        try: self.run_noting(cell)
        finally: cell.outputs, cell.execution_count = outs, count

    def run_noting(self, cell):
        try: super().__call__(cell)
        except Exception as e:
            err, start = e.__cause__ or e, cell.source.strip().splitlines()[0]
            self.nb.doc_errors_ = getattr(self.nb, 'doc_errors_', []) + [f'the cell starting `{start}`: {type(err).__name__}: {err}']
            self.k.exc = None   # or every later cell would report it again

class PreviewFilter(processors.FilterDefaults):
    "nbdev's default doc processors with `add_links` and `exec_show_docs` swapped for the ones above"
    def __init__(self, lookup): self.lookup = lookup
    def base_procs(self):
        swap = {processors.add_links: make_link_proc(self.lookup), processors.exec_show_docs: keep_outputs_show_docs}
        return [swap.get(p, p) for p in super().base_procs()]

def warning_note(w) -> str:
    "One line for a warning of nbdev's, naming the cell it is about"
    lines = str(w.message).strip().splitlines()
    cell = next((l for l in lines[1:] if l.strip() and l != '---'), '')
    return f'nbdev: {lines[0]}' + (f' (the cell starting `{cell}`)' if cell else '')

def prepare(nb, lookup) -> list[str]:
    "Apply the doc processors to `nb` in place, from its folder as the notebook expects; return the warnings they gave"
    with warnings.catch_warnings(record=True) as caught, working_directory(Path(nb.path_).parent), modified_env(IN_TEST='1'):
        warnings.simplefilter('always')
        PreviewFilter(lookup)(nb)
    notes = [f'nbdev-docs would stop at {e}' for e in getattr(nb, 'doc_errors_', [])]
    return notes + list(dict.fromkeys(warning_note(w) for w in caught if 'nbdev' in w.filename))

# --- Maths: TeX to MathML, which Chromium draws with no script (the docs site's MathJax comes from the network)
_re_code = re.compile(r'(```.*?```|~~~.*?~~~|`[^`\n]*`)', re.S)   # code blocks and spans keep their dollars
_re_display = re.compile(r'\$\$(.+?)\$\$', re.S)
_re_inline = re.compile(r'(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\w$])')
_re_placeholder = re.compile(r'y2rmath(\d+)x')

def tex_to_placeholders(md: str, maths: list) -> str:
    "Markdown with its `$...$` and `$$...$$` maths replaced by placeholders; their MathML appended to `maths`"
    from latex2mathml.converter import convert
    def _hold(tex, display):
        maths.append(convert(tex.strip(), display=display))
        return f'y2rmath{len(maths) - 1}x'   # a word markdown leaves alone (MathML itself would be split into tags)
    def _math(text):
        text = _re_display.sub(lambda m: _hold(m.group(1), 'block'), text)
        return _re_inline.sub(lambda m: _hold(m.group(1), 'inline'), text)
    return ''.join(p if i % 2 else _math(p) for i, p in enumerate(_re_code.split(md)))

def hold_maths(nb) -> list:
    "Replace the maths of every markdown cell of `nb` by placeholders, in place; return their MathML, for `put_maths`"
    maths = []
    for c in nb.cells:
        if c.cell_type == 'markdown': c.source = tex_to_placeholders(c.source, maths)
    return maths

def put_maths(body: str, maths: list) -> str:
    "The page's HTML with the placeholders of `hold_maths` replaced by their MathML"
    return _re_placeholder.sub(lambda m: maths[int(m.group(1))], body)

# --- HTML
def pandoc_id(text: str) -> str:
    "The id pandoc (so Quarto) gives a heading with `text`"
    s = re.sub(r'[^\w\s.-]', '', text.strip()).lower()
    s = re.sub(r'^[^a-z]+', '', re.sub(r'\s', '-', s))
    return s or 'section'

_re_heading = re.compile(r'<h([1-6]) id="([^"]*)">(.*?)</h\1>', re.S)
_re_anchor_link = re.compile(r'<a class="anchor-link" href="#[^"]*">.*?</a>', re.S)

def quarto_ids(body: str) -> str:
    "Give headings the ids Quarto gives them (`#which-prediction-which-spacing`), repeats numbered as pandoc does"
    seen = Counter()
    def _sub(m):
        level, inner = m.group(1), m.group(3)
        new = pandoc_id(html.unescape(re.sub(r'<[^>]+>', '', _re_anchor_link.sub('', inner))))
        seen[new] += 1
        if seen[new] > 1: new = f'{new}-{seen[new] - 1}'
        inner = _re_anchor_link.sub(f'<a class="anchor-link" href="#{new}">¶</a>', inner)
        return f'<h{level} id="{new}">{inner}</h{level}>'
    return _re_heading.sub(_sub, body)

_re_nb_href = re.compile(r'href="([^":#?]+\.ipynb)(#[^"]*)?"')

def nb_links_to_pages(body: str) -> str:
    "Point links to notebooks (`15_train.ipynb#anchor`) at their pages (`train.html#anchor`)"
    return _re_nb_href.sub(lambda m: f'href="{nbpath2html(m.group(1)).as_posix()}{m.group(2) or ""}"', body)

def count_images(nb) -> int:
    "Outputs of `nb` that are PNG, JPEG or GIF images"
    return sum(any(k in o.get('data', {}) for k in ('image/png', 'image/jpeg', 'image/gif'))
               for c in nb.cells for o in c.get('outputs', []))

def hide_empty_inputs(nb):
    "Mark code cells without source (`show_doc`, `#| echo: false`) so the page shows their outputs without an empty input box"
    for c in nb.cells:
        if c.cell_type == 'code' and not c.source.strip(): c.metadata.setdefault('transient', {})['remove_source'] = True
    return nb

def make_exporter() -> HTMLExporter:
    "JupyterLab-looking HTML export around tools/preview_docs.html.j2, images inline, no prompts"
    return HTMLExporter(extra_loaders=[FileSystemLoader(str(HERE))], template_name='lab', template_file='preview_docs.html.j2',
                        embed_images=True, exclude_input_prompt=True, exclude_output_prompt=True)

def site_info(page: Page, pages: list[Page], site_name: str, fm: dict) -> dict:
    "What the template needs besides the notebook: navigation, title, description, the run's error, nbdev's warnings"
    i = pages.index(page)
    def _link(p): return {'href': p.href, 'title': p.title, 'section': p.section} if p else None
    return {'name': site_name, 'pages': [_link(p) for p in pages], 'href': page.href,
            'title': fm.get('title', page.title), 'description': fm.get('description', ''), 'error': page.error, 'notes': page.notes,
            'prev': _link(pages[i-1] if i > 0 else None), 'next': _link(pages[i+1] if i+1 < len(pages) else None)}

def render(page: Page, pages: list[Page], cfg, lookup: ProjectLookup, exporter: HTMLExporter, execute_nb: bool) -> str:
    "The HTML of `page`; fills in what the run and the processing found"
    if execute_nb:
        nb, err = execute(page.nb, cfg.tst_flags.split())
        page.run = 'stopped' if err else 'ok'
        if err: page.error = f'The run of {page.nb.name} for this preview stopped at {err}'
        nb = dict2nb(json.loads(nbformat.writes(nb)))
        nb.path_ = str(page.nb)
    else: nb, page.run = read_nb(page.nb), 'stored'
    page.notes += prepare(nb, lookup)
    doc = hide_empty_inputs(to_nbformat(nb))
    maths = hold_maths(doc)
    doc.metadata.title = f"{nb.frontmatter_.get('title', page.title)} - {cfg.title}"
    page.figures = count_images(doc)
    res = {'site': site_info(page, pages, cfg.title, nb.frontmatter_), 'metadata': {'name': page.nb.stem, 'path': str(page.nb.parent)}}
    body, _ = exporter.from_notebook_node(doc, resources=res)
    return put_maths(nb_links_to_pages(quarto_ids(body)), maths)

def render_failed(page: Page, pages: list[Page], cfg, exporter: HTMLExporter, err: Exception) -> str:
    "A page that says why the notebook could not be rendered"
    page.run, page.error = 'failed', f'{page.nb.name} could not be rendered: {type(err).__name__}: {err}'
    doc = nbformat.v4.new_notebook(metadata={'title': f'{page.title} - {cfg.title}'})
    body, _ = exporter.from_notebook_node(doc, resources={'site': site_info(page, pages, cfg.title, {})})
    return body

def prepare_out(out: Path):
    "Make `out` ready for a fresh build: create it, or empty it if an earlier build wrote it; never touch another folder"
    if out.exists() and any(out.iterdir()) and not (out/MARKER).exists():
        sys.exit(f'preview_docs: {out} exists and was not written by this script; pick another --out')
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    (out/MARKER).write_text('Written by tools/preview_docs.py; rebuilding deletes this folder.\n')

def build(out: Path, execute_nb: bool) -> list[Page]:
    "Write the site to `out`; return its pages"
    os.chdir(ROOT)   # nbdev reads pyproject.toml from the working directory
    cfg = get_config()
    pages, lookup, exporter = find_pages(Path(cfg.nbs_path)), project_lookup(cfg, qualify=False), make_exporter()
    os.environ.pop('MPLBACKEND', None)  # kernels use their inline backend, so figures become outputs
    prepare_out(out)
    for page in pages:
        t0 = time.time()
        try: text = render(page, pages, cfg, lookup, exporter, execute_nb)
        except Exception as e: text = render_failed(page, pages, cfg, exporter, e)
        (out/page.href).write_text(text, encoding='utf-8')
        page.seconds = time.time() - t0
        print(f'  {page.nb.name:<28} -> {page.href:<24} {page.run:<8} {page.figures:>3} figure(s) {page.seconds:6.1f}s'
              + (f'  ({len(page.warnings)} warning(s))' if page.warnings else ''), flush=True)
    return pages

def execute_in_place() -> bool:
    "Run every page's notebook as `build` does and save it, outputs and all, over itself; True if none stopped"
    os.chdir(ROOT)
    cfg = get_config()
    os.environ.pop('MPLBACKEND', None)
    ok = True
    for page in find_pages(Path(cfg.nbs_path)):
        t0 = time.time()
        nb, err = execute(page.nb, cfg.tst_flags.split())
        ok &= not err
        nbformat.write(nb, page.nb)
        print(f'  {page.nb.name:<28} {"stopped at " + err if err else "ok":<40} {count_images(nb):>3} figure(s) {time.time() - t0:6.1f}s', flush=True)
    return ok

# --- Serving and checking
class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

@contextmanager
def serving(root: Path, port: int = 0):
    "An HTTP server for `root` on 127.0.0.1 in a background thread; yields its base URL"
    srv = ThreadingHTTPServer(('127.0.0.1', port), functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}/'
    finally: srv.shutdown(); srv.server_close()

# What `--check` reads from each page, once loaded
PAGE_FACTS = r"""() => {
  const nav = document.querySelector('nav#sidebar'), imgs = [...document.images];
  return {
    sidebar: nav ? [...nav.querySelectorAll('li a')].map(a => a.getAttribute('href')) : null,
    active: nav ? [...nav.querySelectorAll('a.active')].map(a => a.getAttribute('href')) : [],
    pager: !!document.querySelector('nav.pager'),
    links: [...document.querySelectorAll('main a[href]')].map(a => a.getAttribute('href')),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id).concat([...document.querySelectorAll('a[name]')].map(a => a.name)),
    data_imgs: imgs.filter(i => i.src.startsWith('data:')).length,
    broken_imgs: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 60)),
    tex: (() => { const m = document.querySelector('main'); if (!m) return [];
      const c = m.cloneNode(true); c.querySelectorAll('pre, code, script, style, .jp-OutputArea').forEach(e => e.remove());
      return [...c.textContent.matchAll(/(?<![\\$\w])\$\$?[^$\s][^$\n]*?\$\$?(?![\w$])/g)].map(m => m[0].slice(0, 40)); })(),
  };
}"""

@dataclass
class Visit:
    "What `--check` found on one page"
    page: Page
    facts: dict = field(default_factory=dict)
    fails: list = field(default_factory=list)
    warns: list = field(default_factory=list)
    @property
    def status(self): return 'FAIL' if self.fails else 'WARN' if self.warns or self.page.warnings else 'PASS'

def visit(browser, base: str, page: Page, hrefs: list[str], shots: Path) -> Visit:
    "Load `page` (nothing from outside `base`), check what does not depend on other pages, save a screenshot"
    v, blocked = Visit(page), []
    tab = browser.new_page(viewport={'width': 1280, 'height': 900})
    def _console(m):
        src = (m.location or {}).get('url', '')
        if m.type == 'error' and (not src or src.startswith(base)): v.fails.append(f'console error: {m.text[:200]}')
    def _route(route):
        url = route.request.url
        if url.startswith((base, 'data:')): return route.continue_()
        blocked.append(url)
        route.abort()
    tab.on('console', _console)
    tab.on('pageerror', lambda e: v.fails.append(f'script error: {str(e)[:200]}'))
    tab.route('**/*', _route)
    try:
        resp = tab.goto(base + page.href, wait_until='load', timeout=60_000)
        if not resp or not resp.ok: v.fails.append(f'HTTP {resp.status if resp else "no response"}')
        v.facts = tab.evaluate(PAGE_FACTS)
        tab.screenshot(path=str(shots/f'{Path(page.href).stem}.png'))
    except Exception as e: v.fails.append(f'could not load: {type(e).__name__}: {str(e).splitlines()[0]}')
    finally: tab.close()
    v.warns += [f'blocked a request to {u[:100]} (the site must work offline)' for u in blocked]
    if v.facts: v.fails += page_problems(v.facts, page, hrefs, base)
    return v

def page_problems(f: dict, page: Page, hrefs: list[str], base: str) -> list[str]:
    "What is wrong with the navigation and the images of a loaded page, given its `PAGE_FACTS`"
    res = []
    if f['sidebar'] != hrefs: res.append(f'the sidebar lists {f["sidebar"]}, not the {len(hrefs)} pages')
    if f['active'] != [page.href]: res.append(f'the sidebar highlights {f["active"]}, not {page.href}')
    if not f['pager']: res.append('no previous/next links')
    broken = [src for src in f['broken_imgs'] if src.startswith((base, 'data:'))]   # external ones: blocked and warned about
    if broken: res.append(f'{len(broken)} image(s) do not load: {broken[:3]}')
    if f['data_imgs'] < page.figures: res.append(f'{page.figures} figure(s) in the outputs, {f["data_imgs"]} inline image(s) on the page')
    if f['tex']: res.append(f'{len(f["tex"])} piece(s) of maths shown as TeX, not drawn: {f["tex"][:3]}')
    if page.run in ('stopped', 'failed'): res.append(page.error)  # a page cut short by an error or a cell's timeout
    return res

def check_links(visits: list[Visit], symbol_urls: set[str], out: Path):
    "Every local link must reach a page, and a heading on it; a backticked name's link to a missing heading is only a warning"
    ids = {v.page.href: set(v.facts.get('ids', [])) for v in visits}
    for v in visits:
        for href in v.facts.get('links', []):
            u = urlsplit(href)
            if u.scheme or u.netloc: continue   # external: not checked offline
            target = posixpath.normpath(posixpath.join(posixpath.dirname(v.page.href), unquote(u.path))) if u.path else v.page.href
            if not target.endswith('.html'):
                if target.startswith('..') or not (out/target).exists(): v.fails.append(f'link to {href}: not a file in the site')
            elif target not in ids: v.fails.append(f'link to {href}: no such page')
            elif u.fragment and unquote(u.fragment) not in ids[target]:
                (v.warns if href in symbol_urls else v.fails).append(f'link to {href}: no heading with that id')

def check_site(out: Path, pages: list[Page], symbol_urls: set[str], chromium: str) -> list[Visit]:
    "Open every page of the site in headless Chromium; return what was found"
    from playwright.sync_api import sync_playwright
    shots = out/'_screenshots'
    shots.mkdir(exist_ok=True)
    hrefs = [p.href for p in pages]
    with serving(out) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=['--no-sandbox', '--disable-gpu'])
        try: visits = [visit(browser, base, p, hrefs, shots) for p in pages]
        finally: browser.close()
    check_links(visits, symbol_urls, out)
    return visits

def print_summary(visits: list[Visit]) -> bool:
    "Print a table and the problems behind it; True if nothing failed"
    print(f'\n{"page":<24} {"notebook":<28} {"run":<8} {"figures":>7} {"links":>5}  status   (figures: inline images / image outputs)')
    for v in visits:
        p = v.page
        figs = f'{v.facts.get("data_imgs", 0)}/{p.figures}'
        print(f'{p.href:<24} {p.nb.name:<28} {p.run:<8} {figs:>7} {len(v.facts.get("links", [])):>5}  {v.status}')
    for v in visits:
        for kind, msgs in (('FAIL', v.fails), ('warn', v.page.warnings + v.warns)):
            for m in msgs: print(f'  {kind} {v.page.href}: {m}')
    n = Counter(v.status for v in visits)
    print(f'\n{len(visits)} pages: {n["PASS"]} pass, {n["WARN"]} with warnings, {n["FAIL"]} failing')
    return not n['FAIL']

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', type=Path, default=ROOT/'_docs_preview', help='folder to write the site to (default: _docs_preview/)')
    ap.add_argument('--execute', action=argparse.BooleanOptionalAction, default=True,
                    help='run each notebook first (default); --no-execute uses the outputs stored in the notebooks')
    ap.add_argument('--check', action='store_true', help='open every page in headless Chromium; exit 1 on a problem of the site')
    ap.add_argument('--serve', action='store_true', help='serve the site on 127.0.0.1 after building it')
    ap.add_argument('--port', type=int, default=8000, help='port for --serve (default: 8000)')
    ap.add_argument('--execute-in-place', action='store_true',
                    help='only run every notebook as for the preview and save it with its outputs over itself, for the deploy '
                         'workflow to build the site from (in a throwaway checkout: it dirties nbs/); exit 1 if one stops')
    ap.add_argument('--chromium', default=os.environ.get('CHROMIUM', '/usr/bin/chromium'), help='browser for --check')
    a = ap.parse_args(argv)
    out = a.out.resolve()
    if a.check and not Path(a.chromium).exists(): sys.exit(f'no browser at {a.chromium}: apt-get install -y chromium (or pass --chromium)')
    t0 = time.time()
    if a.execute_in_place:
        print('Running every notebook and saving its outputs into it')
        ok = execute_in_place()
        print(f'{"Done" if ok else "FAILED: a notebook stopped"} in {time.time() - t0:.0f}s')
        return 0 if ok else 1
    print(f'Building {out} ({"running" if a.execute else "not running"} the notebooks)')
    pages = build(out, a.execute)
    print(f'Wrote {len(pages)} pages in {time.time() - t0:.0f}s')
    ok = True
    if a.check: ok = print_summary(check_site(out, pages, project_lookup(get_config(), qualify=False).urls, a.chromium))
    if a.serve:
        with serving(out, a.port) as url:
            print(f'Serving {out} at {url} (Ctrl-C stops)')
            try: threading.Event().wait()
            except KeyboardInterrupt: pass
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
