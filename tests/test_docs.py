"The documentation site (`make docs`, tools/build_docs.py): pages in layout order, API pages, links and images that resolve."
import ast, base64, io, json, re, sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tools'))
import build_docs  # noqa: E402

class Refs(HTMLParser):
    "Every href/src of a page (tag, attribute, value) and every element id."
    def __init__(self):
        super().__init__(); self.refs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.add(a['id'])
        for k in ('href', 'src'):
            if a.get(k) is not None: self.refs.append((tag, k, a[k]))

def parse(path: Path) -> Refs:
    p = Refs(); p.feed(path.read_text(encoding='utf-8')); return p

def check_site(site: Path) -> list[str]:
    "Problems of a built site: internal links or images that resolve to nothing, missing fragment ids, undecodable images, network fetches."
    pages = {p: parse(p) for p in site.rglob('*.html')}
    bad = []
    for page, r in pages.items():
        for tag, attr, url in r.refs:
            u = urlsplit(url)
            if tag in ('script', 'link', 'img', 'source') and (u.scheme in ('http', 'https') or url.startswith('//')):
                bad.append(f'{page.name}: <{tag} {attr}> fetches {url} from the network'); continue
            if url.startswith('data:'):
                if tag == 'img':
                    try: Image.open(io.BytesIO(base64.b64decode(url.split(',', 1)[1]))).load()
                    except Exception as e: bad.append(f'{page.name}: embedded image does not decode ({e})')
                continue
            if u.scheme or url.startswith('//'): continue          # external links (http, mailto) are not the site's
            target = page if not u.path else (page.parent / unquote(u.path)).resolve()
            if not target.is_file() or site.resolve() not in target.parents:
                bad.append(f'{page.relative_to(site)}: {url} resolves to nothing'); continue
            if u.fragment and target.suffix == '.html' and not {u.fragment, unquote(u.fragment)} & pages[target].ids:   # as browsers match
                bad.append(f'{page.relative_to(site)}: {url}: no element with that id')
            if tag == 'img':
                try: Image.open(target).load()
                except Exception as e: bad.append(f'{page.relative_to(site)}: image {url} does not decode ({e})')
    return bad

# ---------------------------------------------------------------------------------------------------------------------- units
def test_layout_order_reads_the_readme_table():
    md = ('# x\n\n## Layout\n\n| notebook | module | what |\n|---|---|---|\n| `nbs/01_b` | `pkg.b` | second, listed first |\n'
          '| `nbs/paper/p` | (none) | a paper table |\n| `nbs/00_a.ipynb` | `pkg.a` | a |\n\nprose\n\n## Next\n| `nbs/zz` | `m` | not layout |\n')
    assert build_docs.layout_order(md) == [('nbs/01_b', 'pkg.b', 'second, listed first'), ('nbs/paper/p', '', 'a paper table'),
                                           ('nbs/00_a', 'pkg.a', 'a')]
    assert build_docs.layout_order('# no layout table\n') == []

def test_signature_text_shows_annotations_as_written():
    ns = {}
    exec('from __future__ import annotations\ndef f(a: int, b: str | None = None, *c, d: float = 1.0, **e) -> list[int]: pass', ns)
    assert build_docs.signature_text(ns['f']) == "(a: int, b: str | None = None, *c, d: float = 1.0, **e) -> list[int]"
    assert build_docs.signature_text(3) == ''

def test_clean_nb_drops_hidden_cells_and_directives():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('#| default_exp a'), nbformat.v4.new_code_cell('#| hide\nsecret = 1'),
                                         nbformat.v4.new_code_cell('#| export\ndef f(): pass'), nbformat.v4.new_markdown_cell('#| not code')])
    out = build_docs.clean_nb(nb)
    assert [c.source for c in out.cells] == ['def f(): pass', '#| not code']

def _png(path: Path, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO(); Image.new('RGB', (12, 8), color).save(buf, 'PNG')
    path.parent.mkdir(parents=True, exist_ok=True); path.write_bytes(buf.getvalue()); return buf.getvalue()

def test_build_a_small_repository(tmp_path, monkeypatch):
    "A made-up repository: layout order, hidden cells, copied images, rewritten notebook links, API page, a broken link reported."
    repo = tmp_path / 'repo'
    (repo / 'nbs' / 'paper').mkdir(parents=True); (repo / 'fakedocpkg').mkdir()
    (repo / 'settings.ini').write_text('[DEFAULT]\nlib_name = fakedocpkg\n')
    _png(repo / 'results' / 'figures' / 'fig.png')
    (repo / 'README.md').write_text('# fakedocpkg\n\n![a figure](results/figures/fig.png)\n\nSee [the a notebook](nbs/00_a.ipynb) and '
                                    '[nowhere](results/missing.md).\n\n## Layout\n\n| notebook | module | what |\n|---|---|---|\n'
                                    '| `nbs/01_b` | `fakedocpkg.b` | b first |\n| `nbs/00_a` | `fakedocpkg.a` | then a |\n')
    (repo / 'fakedocpkg' / '__init__.py').write_text('')
    (repo / 'fakedocpkg' / 'a.py').write_text('from __future__ import annotations\n__all__ = ["f", "K"]\nK = 3\n'
                                             'def f(x: int = 1) -> int:\n    "Add one to `x` (see `f`)."\n    return x + 1\n')
    (repo / 'fakedocpkg' / 'b.py').write_text('__all__ = []\n')
    out_png = base64.b64encode(_png(tmp_path / 'out.png', (10, 120, 200))).decode()
    a = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell('# a\n\n> The a module.\n\n![figure](../results/figures/fig.png) and [b](01_b.ipynb#b-heading)'),
        nbformat.v4.new_code_cell('#| default_exp a'), nbformat.v4.new_code_cell('#| hide\nSECRET_HIDDEN = 1'),
        nbformat.v4.new_code_cell('#| export\ndef f(x): return x + 1',
                                  outputs=[nbformat.v4.new_output('display_data', data={'image/png': out_png, 'text/plain': 'fig'})])])
    b = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# b\n\n## b heading\n\ntext'), nbformat.v4.new_code_cell('#| default_exp b')])
    p = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# paper table p\n\n[the README](../../README.md)')])
    for name, nb in (('nbs/00_a.ipynb', a), ('nbs/01_b.ipynb', b), ('nbs/paper/p.ipynb', p), ('nbs/index.ipynb', b)): nbformat.write(nb, repo / name)
    monkeypatch.setattr(sys, 'path', list(sys.path))       # build() puts the made-up repository on the path: undo that after
    site = build_docs.build(repo, tmp_path / 'site')
    out = tmp_path / 'site'
    assert [n.src for n in site.nbs] == ['nbs/01_b.ipynb', 'nbs/00_a.ipynb', 'nbs/paper/p.ipynb']   # table order; index is the README
    assert site.modules == ['fakedocpkg.b', 'fakedocpkg.a']
    contents = (out / 'contents.html').read_text()
    assert contents.index('nbs/01_b.ipynb') < contents.index('nbs/00_a.ipynb') < contents.index('nbs/paper/p.ipynb')
    assert '<td>b first</td>' in contents and '<td>The a module.</td>' not in contents    # the table's words over the notebook's
    page_a = (out / 'nbs' / '00_a.html').read_text()
    assert 'SECRET_HIDDEN' not in page_a and '#| export' not in page_a and 'def' in page_a
    assert 'href="01_b.html#b-heading"' in page_a and 'src="../files/results/figures/fig.png"' in page_a
    assert out_png[:40] in page_a                                              # the stored output stays embedded
    assert (out / 'files' / 'results' / 'figures' / 'fig.png').read_bytes() == (repo / 'results' / 'figures' / 'fig.png').read_bytes()
    assert 'href="../../index.html"' in (out / 'nbs' / 'paper' / 'p.html').read_text()
    front = (out / 'index.html').read_text()
    assert 'src="files/results/figures/fig.png"' in front and 'href="nbs/00_a.html"' in front
    assert site.warnings == ["index.html: link to 'results/missing.md' resolves to nothing"]
    api = (out / 'api' / 'fakedocpkg.a.html').read_text()
    assert 'id="f"' in api and 'id="K"' in api and html_unescape(api).count('(x: int = 1) -> int') == 1
    assert '<a href="#f"><code>f</code></a>' in api                           # a docstring's `f` links to it
    assert check_site(out) == ['index.html: results/missing.md resolves to nothing']
    assert json.loads((out / 'site.json').read_text())['pages'][:3] == ['index.html', 'contents.html', 'nbs/01_b.html']

def html_unescape(s): import html; return html.unescape(s)

# ---------------------------------------------------------------------------------------------------------------------- the real site
def test_every_notebook_has_a_page_in_layout_order(docs_site):
    nbs = [p for p in sorted((REPO / 'nbs').glob('*.ipynb')) + sorted((REPO / 'nbs' / 'paper').glob('*.ipynb')) if p.stem != 'index']
    for p in nbs: assert (docs_site / p.relative_to(REPO).with_suffix('.html')).is_file(), p
    listed = [nb for nb, _, _ in build_docs.layout_order((REPO / 'README.md').read_text())]
    contents = (docs_site / 'contents.html').read_text()
    pos = [contents.index(f'>{nb}.ipynb<') for nb in listed if (REPO / f'{nb}.ipynb').exists() and nb != 'nbs/index']   # index is the front page
    assert len(pos) >= 10 and pos == sorted(pos), 'contents.html does not follow the README layout table'
    front = (docs_site / 'index.html').read_text()
    assert '<h2 id="set-up-and-run">Set up and run</h2>' in front and 'contents.html' in front   # the README, with the navigation

def exported_names(modname: str) -> list[str]:
    "`__all__` of a module read from its source (no import); for the package, the names its `__init__` imports."
    parts = modname.split('.')
    path = REPO.joinpath(*parts[:-1], parts[-1] + '.py') if len(parts) > 1 else REPO / parts[0] / '__init__.py'
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets) and node.value.elts:
            return [ast.literal_eval(e) for e in node.value.elts]
    return [a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom) and node.module != '__future__' for a in node.names
            if not (a.asname or a.name).startswith('_')]

def test_api_pages_list_every_exported_name(docs_site):
    pages = sorted((docs_site / 'api').glob('*.html'))
    assert len(pages) >= 15
    for page in pages:
        ids = parse(page).ids
        names = exported_names(page.stem)
        assert names, page.name
        missing = [n for n in names if n not in ids]
        assert not missing, f'{page.name} lacks {missing}'
    seg = (docs_site / 'api' / 'dynaguide.segment.html').read_text()
    assert 'Segment one image with the per-image CNN' in seg                       # a docstring, read with inspect

def test_links_and_images_resolve(docs_site):
    warnings = json.loads((docs_site / 'site.json').read_text())['warnings']
    assert not warnings, warnings
    assert check_site(docs_site) == []
    figs = (docs_site / 'nbs' / '17_figures.html').read_text()
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', figs)) >= 5, 'the figures notebook shows its stored figures'
