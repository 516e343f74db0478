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
    ours = [row for row in meta['rows'] if 'quoted' not in row['note']]
    assert ours and all(row['n_images'] == 1 for row in ours) and all('profile smoke' in row['note'] for row in ours)
    assert (tmp_path / 'res' / 'figures' / 'bsd500_smoke.png').exists()
