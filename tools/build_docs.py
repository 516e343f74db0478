"""Build the documentation site: static HTML from the notebooks (with their stored outputs), an API page per module and the
README as the front page, all under one folder (default `_docs/`), offline (no file is fetched from the network when a page is read).

    python tools/build_docs.py [--out _docs] [--repo .]

- Pages: `index.html` (README.md), `contents.html` (every notebook in the README's layout order, then any notebook the table
  does not list), `nbs/<name>.html` and `nbs/paper/<name>.html` (nbconvert's HTML exporter, lab template, without the
  CDN scripts: no require.js, MathJax or Mermaid), `api/<module>.html` (signature and docstring of each name in the
  module's `__all__`, read with `inspect`; the package's top-level names for the package itself).
- nbdev directives: cells marked `#| hide` and cells holding only directives are dropped, directive lines are removed.
- Links and images: a relative link to a notebook becomes a link to its page; a relative link or image to another file of the
  repository copies that file under `files/` and points there; images stored in outputs stay embedded (base64). A link
  that resolves to nothing is reported (and left as it is).
Nothing is executed: the notebooks are rendered as they are stored.
"""
from __future__ import annotations
import argparse, html, importlib, inspect, json, os, re, shutil, sys
from configparser import ConfigParser
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat

CSS = """
:root { --nav-w: 250px; }
body.dg { margin: 0; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; line-height: 1.5; color: #1f2328; }
nav.dg-nav { position: fixed; top: 0; left: 0; bottom: 0; width: var(--nav-w); overflow-y: auto; box-sizing: border-box;
  padding: 14px 12px; background: #f6f8fa; border-right: 1px solid #d0d7de; font: 13px/1.45 system-ui, sans-serif; z-index: 10; }
nav.dg-nav a { color: #0b5cad; text-decoration: none; display: block; padding: 1px 4px; border-radius: 4px; }
nav.dg-nav a:hover { background: #e7edf3; }
nav.dg-nav a.current { background: #dbe7f5; font-weight: 600; }
nav.dg-nav .dg-title { font-size: 17px; font-weight: 700; margin: 0 4px 8px; }
nav.dg-nav h4 { margin: 12px 4px 3px; font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: #57606a; }
nav.dg-nav small { color: #57606a; }
.dg-main { margin-left: var(--nav-w); padding: 8px 28px 40px; max-width: 1100px; }
body.jp-Notebook > main { margin-left: var(--nav-w); }
.dg-main pre { background: #f6f8fa; padding: 8px 10px; overflow-x: auto; border-radius: 6px; }
.dg-main code { background: #f6f8fa; padding: 0 3px; border-radius: 3px; font-size: 90%; }
.dg-main pre code { background: none; padding: 0; }
.dg-main table { border-collapse: collapse; margin: 8px 0; }
.dg-main th, .dg-main td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
.dg-main img { max-width: 100%; }
.dg-api { border-top: 1px solid #d0d7de; padding: 6px 0 4px; }
.dg-api .sig { font-family: ui-monospace, monospace; font-size: 13px; background: #f6f8fa; padding: 5px 8px; border-radius: 5px;
  white-space: pre-wrap; word-break: break-word; }
.dg-api .kind { color: #57606a; font-size: 12px; margin-left: 6px; }
.dg-api .meth { margin-left: 22px; }
.dg-api .src { font-size: 12px; }
"""

NB_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block extra_css %}<link rel="icon" href="data:,"><style type="text/css">{{ resources.dg_css }}</style>{% endblock extra_css %}
{%- block body_header -%}
<body class="jp-Notebook dg" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
{{ resources.dg_nav }}
<main>
{%- endblock body_header -%}
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title><link rel="icon" href="data:,"><style>{css}</style></head>
<body class="dg">{nav}<div class="dg-main">
{body}
</div></body></html>
"""

# ---------------------------------------------------------------------------------------------------------------------- the pages
@dataclass
class NbPage:
    "One notebook: its source path (repo-relative), page path (site-relative), title, module and one line of what it holds."
    src: str
    page: str
    title: str
    module: str | None = None
    what: str = ''
    paper: bool = False

@dataclass
class Site:
    repo: Path
    out: Path
    lib: str
    nbs: list[NbPage] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

def layout_order(readme: str) -> list[tuple[str, str, str]]:
    "(notebook path without .ipynb, module or '', what) of each row of the README's `## Layout` table, in its order."
    m = re.search(r'^## Layout\s*$(.*?)(?=^## |\Z)', readme, re.M | re.S)
    rows = []
    for line in (m.group(1) if m else '').splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) < 3 or not cells[0].startswith('`'): continue
        nb = cells[0].strip('`').removesuffix('.ipynb')
        mod = cells[1].strip('`') if cells[1].startswith('`') else ''
        rows.append((nb, mod, cells[2]))
    return rows

def nb_info(path: Path) -> tuple[str, str | None, str]:
    "Title (first `# ` heading), module (`#| default_exp`) and summary (the `> ` line under the title) of a notebook."
    nb = nbformat.read(path, as_version=4)
    title, module, summary = path.stem, None, ''
    for c in nb.cells:
        src = c.source
        if c.cell_type == 'markdown' and title == path.stem:
            h = re.search(r'^# (.+)$', src, re.M)
            if h: title = h.group(1).strip()
            s = re.search(r'^> (.+(?:\n> .+)*)', src, re.M)
            if s: summary = ' '.join(l.lstrip('> ').strip() for l in s.group(1).splitlines())
        if c.cell_type == 'code' and module is None:
            d = re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M)
            if d: module = d.group(1)
    return title, module, summary

def collect(repo: Path, out: Path) -> Site:
    "Every notebook of nbs/ and nbs/paper/ (but nbs/index, the README's source) in layout order, with its module."
    cfg = ConfigParser(delimiters=['=']); cfg.read(repo / 'settings.ini', encoding='utf-8')
    lib = cfg['DEFAULT'].get('lib_name', 'dynaguide')
    site = Site(repo, out, lib)
    readme = (repo / 'README.md').read_text(encoding='utf-8') if (repo / 'README.md').exists() else ''
    order = {nb: (i, what) for i, (nb, _, what) in enumerate(layout_order(readme))}
    found = [p for p in sorted((repo / 'nbs').glob('*.ipynb')) + sorted((repo / 'nbs' / 'paper').glob('*.ipynb'))
             if p.stem != 'index' and not p.name.startswith('_')]
    def key(p):
        rel = p.relative_to(repo).with_suffix('').as_posix()
        return (0, order[rel][0], '') if rel in order else (1, 'paper' in p.parts, rel)   # listed first, then the others by name
    for p in sorted(found, key=key):
        rel = p.relative_to(repo)
        title, module, summary = nb_info(p)
        what = order.get(rel.with_suffix('').as_posix(), (0, summary))[1] or summary
        mod = None if module is None else module if module.startswith(lib) else f'{lib}.{module}'.replace('.__init__', '')
        site.nbs.append(NbPage(rel.as_posix(), rel.with_suffix('.html').as_posix(), title, mod, what, 'paper' in rel.parts))
    site.modules = [n.module for n in site.nbs if n.module]
    return site

# ---------------------------------------------------------------------------------------------------------------------- links
def rel_url(target: str, page: str) -> str:
    "URL of site path `target` from site path `page` (both relative to the site root, '/'-separated)."
    return os.path.relpath(target, os.path.dirname(page) or '.').replace(os.sep, '/')

def nav_html(site: Site, page: str) -> str:
    "The navigation sidebar for `page`: home, contents, the library notebooks, the paper notebooks and the API pages."
    def a(target, text, extra=''):
        cur = ' class="current"' if target == page else ''
        return f'<a href="{html.escape(rel_url(target, page))}"{cur}>{text}{extra}</a>'
    parts = [f'<nav class="dg-nav"><div class="dg-title">{html.escape(site.lib)}</div>', a('index.html', 'Home (README)'),
             a('contents.html', 'Contents'), '<h4>Notebooks</h4>']
    parts += [a(n.page, html.escape(Path(n.src).stem), f' <small>{html.escape(n.title)}</small>' if n.title != Path(n.src).stem else '')
              for n in site.nbs if not n.paper]
    parts += ['<h4>Paper tables</h4>'] + [a(n.page, html.escape(Path(n.src).stem)) for n in site.nbs if n.paper]
    parts += ['<h4>API</h4>'] + [a(f'api/{m}.html', html.escape(m)) for m in site.modules]
    return '\n'.join(parts) + '</nav>'

_ATTR = re.compile(r'''(<(?:a|img|source|link)\b[^>]*?\s(?:href|src)=)(["'])(.*?)\2''', re.I | re.S)

def fix_links(site: Site, doc: str, src_dir: Path, page: str) -> str:
    "Point relative href/src attributes of `doc` (from a source in `src_dir`) at pages or at copies under files/."
    pages = {(site.repo / n.src).resolve(): n.page for n in site.nbs}
    def sub(m):
        url = html.unescape(m.group(3))
        parts = urlsplit(url)
        if parts.scheme or url.startswith(('#', '//', '/')) or not parts.path: return m.group(0)
        target = (src_dir / unquote(parts.path)).resolve()
        frag = f'#{parts.fragment}' if parts.fragment else ''
        cands = [target, target.with_suffix('.ipynb')] if target.suffix in ('', '.html') else [target]
        for t in cands:
            if t in pages: return f'{m.group(1)}{m.group(2)}{html.escape(rel_url(pages[t], page) + frag)}{m.group(2)}'
        if target == (site.repo / 'README.md').resolve(): return f'{m.group(1)}{m.group(2)}{rel_url("index.html", page) + frag}{m.group(2)}'
        if target.is_file() and site.repo.resolve() in target.parents:
            dest = 'files/' + target.relative_to(site.repo.resolve()).as_posix()
            (site.out / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, site.out / dest)
            return f'{m.group(1)}{m.group(2)}{html.escape(rel_url(dest, page) + frag)}{m.group(2)}'
        site.warnings.append(f'{page}: link to {url!r} resolves to nothing')
        return m.group(0)
    return _ATTR.sub(sub, doc)

# ---------------------------------------------------------------------------------------------------------------------- notebooks
_DIRECTIVE = re.compile(r'^\s*#\|.*$\n?', re.M)

def clean_nb(nb):
    "Drop `#| hide` cells and directive-only cells; remove directive lines from the rest; no execution counts shown."
    cells = []
    for c in nb.cells:
        if c.cell_type == 'code':
            if re.search(r'^\s*#\|\s*hide\b', c.source, re.M): continue
            src = _DIRECTIVE.sub('', c.source).strip('\n')
            if not src and not c.get('outputs'): continue
            c.source = src
        cells.append(c)
    nb.cells = cells
    return nb

def render_notebook(site: Site, n: NbPage, exporter) -> None:
    nb = clean_nb(nbformat.read(site.repo / n.src, as_version=4))
    nb.metadata['title'] = f'{n.title} - {site.lib}'
    body, _ = exporter.from_notebook_node(nb, resources=dict(dg_nav=_NAV, dg_css=CSS))
    body = fix_links(site, body, (site.repo / n.src).parent, n.page)   # before the navigation goes in: its links are the site's own
    write(site.out / n.page, body.replace(_NAV, nav_html(site, n.page), 1))

def notebook_exporter():
    "nbconvert's HTML exporter with the lab template, minus the CDN scripts, plus the navigation."
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    ex = HTMLExporter(template_name='lab', extra_loaders=[DictLoader({'dg_notebook.html.j2': NB_TEMPLATE})])
    ex.template_file = 'dg_notebook.html.j2'
    # The lab template passes every code cell's highlighted HTML through bleach (`clean_html`), about half the build time. The
    # sources are this repository's own notebooks, so the sanitiser protects nothing here: skip it.
    ex.register_filter('clean_html', lambda s: s)
    ex.exclude_input_prompt = ex.exclude_output_prompt = True
    return ex

def inline_md(text: str) -> str:
    "One line of prose as HTML: escaped, with `code` spans."
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(text, quote=False))

# ---------------------------------------------------------------------------------------------------------------------- API pages
def _doc_html(doc: str, names: dict[str, str]) -> str:
    "A docstring as HTML: escaped, `code` spans (linked when they name an API object), paragraphs."
    def code(m):
        t = m.group(1); base = t.split('(')[0].split('.')[-1]
        return f'<a href="{names[base]}"><code>{t}</code></a>' if base in names else f'<code>{t}</code>'
    paras = [re.sub(r'`([^`]+)`', code, html.escape(p.strip(), quote=False)) for p in re.split(r'\n\s*\n', doc or '') if p.strip()]
    return ''.join(f'<p>{p}</p>' for p in paras)

def _annotation(a) -> str:
    if a is inspect.Parameter.empty: return ''
    return a if isinstance(a, str) else inspect.formatannotation(a)

def signature_text(obj) -> str:
    "`(a: int = 1, *, b: str = 'x') -> float` with string annotations shown as written (no quotes); '' when there is none."
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return ''
    ps, star = [], False
    for p in sig.parameters.values():
        if p.kind == p.KEYWORD_ONLY and not star: ps.append('*'); star = True
        s = ('*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else '') + p.name
        if p.kind == p.VAR_POSITIONAL: star = True
        if (ann := _annotation(p.annotation)): s += f': {ann}'
        if p.default is not p.empty: s += (' = ' if ann else '=') + repr(p.default)
        ps.append(s)
    ret = _annotation(sig.return_annotation)
    return f"({', '.join(ps)})" + (f' -> {ret}' if ret else '')

def api_names(mod) -> list[str]:
    "`__all__` of a module; for a package whose `__all__` is empty or absent, its public non-module top-level names."
    names = list(getattr(mod, '__all__', None) or [])
    if not names and hasattr(mod, '__path__'):
        names = [n for n in vars(mod) if not n.startswith('_') and not inspect.ismodule(getattr(mod, n))]
    return names

def api_page(site: Site, modname: str) -> str:
    "HTML body of the API page of `modname`."
    page = f'api/{modname}.html'
    nb = next((n for n in site.nbs if n.module == modname), None)
    head = f'<h1><code>{html.escape(modname)}</code></h1>'
    if nb: head += f'<p>{inline_md(nb.what)}</p><p>Source notebook: <a href="{rel_url(nb.page, page)}">{html.escape(nb.src)}</a></p>'
    try: mod = importlib.import_module(modname)
    except Exception as e:   # an optional dependency missing: say so on the page
        site.warnings.append(f'{modname}: not importable ({type(e).__name__}: {e})')
        return head + f'<p><strong>Not importable here</strong>: {html.escape(f"{type(e).__name__}: {e}")}</p>'
    names = api_names(mod)
    anchors = {n: f'#{n}' for n in names}
    out = [head, '<p>' + ', '.join(f'<a href="#{n}"><code>{n}</code></a>' for n in names) + '</p>']
    for n in names:
        obj = getattr(mod, n, None)
        kind = 'class' if inspect.isclass(obj) else 'function' if callable(obj) else type(obj).__name__
        sig = signature_text(obj) if callable(obj) else ''
        out.append(f'<div class="dg-api" id="{n}"><div class="sig">{"class " if kind == "class" else ""}<strong>{n}</strong>'
                   f'{html.escape(sig)}</div><span class="kind">{kind}</span>')
        own = getattr(obj, '__module__', None)
        if own and own != modname and inspect.getmodule(obj) is not None and kind in ('class', 'function'):
            out.append(f'<span class="src">(from <a href="{own}.html#{n}"><code>{own}</code></a>)</span>' if own in site.modules
                       else f'<span class="src">(from <code>{html.escape(own)}</code>)</span>')
        if callable(obj): out.append(_doc_html(inspect.getdoc(obj) or '', anchors))
        else:
            r = repr(obj); out.append(f'<pre>{html.escape(r[:400] + (" ..." if len(r) > 400 else ""))}</pre>')
        if inspect.isclass(obj):
            for mn, m in vars(obj).items():
                f = m.__func__ if isinstance(m, (classmethod, staticmethod)) else m.fget if isinstance(m, property) else m
                if mn.startswith('_') or not callable(f) or not (inspect.getdoc(f) or '').strip(): continue
                msig = '' if isinstance(m, property) else html.escape(signature_text(f))
                out.append(f'<div class="meth" id="{n}.{mn}"><div class="sig">{n}.<strong>{mn}</strong>{msig}</div>'
                           f'{_doc_html(inspect.getdoc(f), anchors)}</div>')
        out.append('</div>')
    return '\n'.join(out)

# ---------------------------------------------------------------------------------------------------------------------- the rest
def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(text, encoding='utf-8')

_NAV = '<!-- dg-nav -->'

def page(site: Site, path: str, title: str, body: str) -> None:
    "A page of the site's own (front, contents, API) around `body`, whose relative links are already the site's."
    write(site.out / path, PAGE.format(title=html.escape(title), css=CSS, nav=nav_html(site, path), body=body))

def front_page(site: Site) -> None:
    import markdown
    md = (site.repo / 'README.md').read_text(encoding='utf-8')
    body = fix_links(site, markdown.markdown(md, extensions=['tables', 'fenced_code', 'toc']), site.repo, 'index.html')
    body += ('<h2>Reading these pages</h2><p>Every notebook is shown as stored (code and outputs), in the order of the layout '
             'table: see <a href="contents.html">Contents</a>, or the API pages for each module\'s signatures and docstrings.</p>')
    page(site, 'index.html', site.lib, body)

def contents_page(site: Site) -> None:
    rows = ''.join(f'<tr><td><a href="{n.page}">{html.escape(n.src)}</a></td><td>'
                   + (f'<a href="api/{n.module}.html"><code>{n.module}</code></a>' if n.module else '(none)')
                   + f'</td><td>{inline_md(n.what)}</td></tr>' for n in site.nbs)
    page(site, 'contents.html', f'Contents - {site.lib}',
         f'<h1>Contents</h1><p>The notebooks in the layout order of the README; each exports the module beside it.</p>'
         f'<table><tr><th>notebook</th><th>module (API)</th><th>what</th></tr>{rows}</table>')

def build(repo: str | Path = '.', out: str | Path = '_docs') -> Site:
    "Build the whole site from `repo` into `out` (emptied first); return what was built, with any warnings."
    repo, out = Path(repo).resolve(), Path(out).resolve()
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    if str(repo) not in sys.path: sys.path.insert(0, str(repo))
    site = collect(repo, out)
    front_page(site)
    contents_page(site)
    ex = notebook_exporter()
    for n in site.nbs: render_notebook(site, n, ex)
    for m in site.modules: page(site, f'api/{m}.html', f'{m} - API', api_page(site, m))
    write(out / 'site.json', json.dumps(dict(pages=['index.html', 'contents.html'] + [n.page for n in site.nbs]
                                             + [f'api/{m}.html' for m in site.modules], warnings=site.warnings), indent=1))
    return site

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--repo', default=Path(__file__).resolve().parents[1], help='repository root (default: this script\'s)')
    ap.add_argument('--out', default=None, help='output folder (default: <repo>/_docs)')
    a = ap.parse_args(argv)
    import matplotlib; matplotlib.use('Agg')   # API pages import the modules: no display
    site = build(a.repo, a.out or Path(a.repo) / '_docs')
    for w in site.warnings: print('warning:', w, file=sys.stderr)
    print(f'{len(site.nbs)} notebooks, {len(site.modules)} API pages -> {site.out / "index.html"}')

if __name__ == '__main__':
    main()
