"The saliency paper notebook under papermill: the smoke profile writes every table and figure; an unknown profile fails."
import json, subprocess, sys
from pathlib import Path

NB = Path(__file__).resolve().parents[1] / 'nbs' / 'paper' / 'saliency.ipynb'
PM = Path(sys.executable).parent / 'papermill'
TABLES = ('table1', 'deltas', 'table3', 'table5', 'corloc_proxy')


def run(tmp_path, *params):
    args = [str(PM), str(NB), str(tmp_path / 'out.ipynb'), '--cwd', str(NB.parent)]
    for k, v in params: args += ['-p', k, str(v)]
    return subprocess.run(args, capture_output=True, text=True)


def test_saliency_smoke_under_papermill(tmp_path, data):
    r = run(tmp_path, ('profile', 'smoke'), ('out_dir', tmp_path / 'res'), ('root', data), ('n_images', 1))
    assert r.returncode == 0, r.stderr[-3000:]
    t = tmp_path / 'res' / 'tables'
    for stem in TABLES:
        for ext in ('csv', 'md', 'json'): assert (t / f'saliency_{stem}_smoke.{ext}').exists(), (stem, ext)
    meta = json.loads((t / 'saliency_table1_smoke.json').read_text())
    assert meta['params']['profile'] == 'smoke' and meta['params']['n_eval'] == 1
    ours = [row for row in meta['rows'] if 'quoted' not in row['note']]
    quoted = [row for row in meta['rows'] if 'quoted' in row['note']]
    assert ours and quoted and all(row['profile'] == 'smoke' and row['backbone'] == 'effnet_lite0' for row in ours)
    assert all(row['n_eval'] == 'ECSSD 1 DUTS-TE 1' for row in ours)
    heads = [row for row in ours if row['method'].startswith('head')]
    assert len(heads) == 6 and all(row['seeds'] == '0 1' for row in heads)
    assert {row['post'] for row in ours} == {'none', 'gf', 'bs'}
    proxy = json.loads((t / 'saliency_corloc_proxy_smoke.json').read_text())
    assert 'PROXY' in proxy['title'] and all('PROXY' in row['note'] or 'quoted' in row['note'] for row in proxy['rows'])
    for f in ('saliency_smoke.png', 'saliency_loss_smoke.png'): assert (tmp_path / 'res' / 'figures' / f).exists()


def test_unknown_profile_fails(tmp_path):
    r = run(tmp_path, ('profile', 'nope'), ('out_dir', tmp_path / 'res'))
    assert r.returncode != 0 and 'unknown profile' in (r.stdout + r.stderr)
