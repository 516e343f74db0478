"Paper notebooks: each has a `parameters` cell, and papermill runs it with injected parameters (smoke profile) to a table."
import json, subprocess, sys
from pathlib import Path
import nbformat, pytest

PAPER = sorted((Path(__file__).resolve().parents[1] / 'nbs' / 'paper').glob('*.ipynb'))

@pytest.mark.parametrize('nb', PAPER, ids=lambda p: p.stem)
def test_parameters_cell_and_no_exports(nb):
    cells = nbformat.read(nb, as_version=4).cells
    tagged = [c for c in cells if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1 and 'profile' in tagged[0].source, f'{nb.name}: needs one cell tagged parameters defining profile'
    assert not any(c.cell_type == 'code' and '#| export' in c.source for c in cells), f'{nb.name} must export nothing'

def test_bsd500_runs_under_papermill(tmp_path, data):
    pm = Path(sys.executable).parent / 'papermill'
    nb = next(p for p in PAPER if p.stem == 'bsd500')
    r = subprocess.run([str(pm), str(nb), str(tmp_path / 'out.ipynb'), '-p', 'profile', 'smoke', '-p', 'out_dir', str(tmp_path / 'res'),
                        '-p', 'root', str(data), '-p', 'n_images', '1', '--cwd', str(nb.parent)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((tmp_path / 'res' / 'tables' / 'bsd500_smoke.json').read_text())
    assert meta['params']['profile'] == 'smoke' and meta['params']['n_images'] == 1
    ours = [row for row in meta['rows'] if 'quoted' not in row['note'] and row.get('kind') != 'human']
    assert ours and all(row['n_images'] == 1 for row in ours) and all('profile smoke' in row['note'] for row in ours)
    assert all('mean_nosplit' in row for row in ours) and meta['not_run'] == []
    human = [row for row in meta['rows'] if row.get('kind') == 'human']
    assert len(human) == 1 and 0 < human[0]['mean'] < 1
    for r in ours:   # every DynaGuide row is compared with its own guidance alone on the same images
        if r['kind'] == 'segment' and r['guidance']: assert abs(r['gain_over_guidance'] - (r['mean'] - r['guidance_mean'])) < 1e-12
    from dynaguide.tables import BSDS500_TABLE
    md = (tmp_path / 'res' / 'tables' / 'bsd500_smoke.md').read_text().splitlines()
    assert md[2] == '| ' + ' | '.join(BSDS500_TABLE.md_columns) + ' |' and any(l.startswith('| human agreement') for l in md)   # a readable table
    assert (tmp_path / 'res' / 'figures' / 'bsd500_smoke.png').exists() and (tmp_path / 'res' / 'figures' / 'bsd500_gain_segments_smoke.png').exists()


def test_bsd500_complete_only_lists_missing_rows(tmp_path, data):
    "A scoring run with complete_only computes nothing: rows without a full cache are left out of the table and named."
    pm = Path(sys.executable).parent / 'papermill'
    nb = next(p for p in PAPER if p.stem == 'bsd500')
    args = [str(pm), str(nb), str(tmp_path / 'out.ipynb'), '-p', 'profile', 'smoke', '-p', 'out_dir', str(tmp_path / 'res'),
            '-p', 'root', str(data), '-p', 'n_images', '1', '--cwd', str(nb.parent)]
    r = subprocess.run(args + ['-p', 'shard', '0/1'], capture_output=True, text=True)   # a worker fills the cache ...
    assert r.returncode == 0, r.stderr[-3000:]
    key = next(d for d in (tmp_path / 'res' / 'cache' / 'bsd500').iterdir() if json.loads((d / 'settings.json').read_text()).get('kind') == 'segment')
    for f in key.glob('*.npz'): f.unlink()                                                # ... but one row's images are lost
    r = subprocess.run(args + ['-p', 'complete_only', 'True'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((tmp_path / 'res' / 'tables' / 'bsd500_smoke.json').read_text())
    assert len(meta['not_run']) >= 1 and all(m['missing'] == m['of'] == 1 for m in meta['not_run'])
    assert not any(f for f in key.glob('*.npz'))                                           # nothing was computed
    missing = {m['method'] for m in meta['not_run']}
    assert not missing & {row['method'] for row in meta['rows']}
    assert 'Not run' in (tmp_path / 'res' / 'tables' / 'bsd500_smoke.md').read_text()
