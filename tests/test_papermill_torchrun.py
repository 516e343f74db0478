"A paper notebook's cache filled by two torchrun ranks (each takes its share without `shard`), then scored by one plain run."
import json, os, subprocess, sys
from pathlib import Path
import pytest

NB = Path(__file__).resolve().parents[1] / 'nbs' / 'paper' / 'bsd500.ipynb'
BIN = Path(sys.executable).parent


def test_bsd500_cache_filled_by_two_torchrun_ranks(tmp_path, data):
    if not (BIN / 'torchrun').exists(): pytest.skip('torchrun not installed next to this Python')
    res = tmp_path / 'res'
    common = f"-p profile smoke -p out_dir {res} -p root {data} -p n_images 2 --cwd {NB.parent}"
    env = dict(os.environ, OMP_NUM_THREADS='1')
    r = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node', '2', '--no-python', 'sh', '-c',
                        f"{BIN / 'papermill'} {NB} {tmp_path}/rank$RANK.ipynb {common}"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    for k in (0, 1):   # each rank ran as a worker on its own share (no table), and said so
        out = (tmp_path / f'rank{k}.ipynb').read_text()
        assert f'[shard {k}/2]' in out
    assert not (res / 'tables' / 'bsd500_smoke.json').exists()
    cached = sorted(p.name for p in (res / 'cache' / 'bsd500').glob('*/*.npz'))
    assert cached and len(set(cached)) == 2                   # both images cached, each by one rank
    r = subprocess.run([str(BIN / 'papermill'), str(NB), str(tmp_path / 'score.ipynb'), *common.split(), '-p', 'complete_only', 'True'],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((res / 'tables' / 'bsd500_smoke.json').read_text())
    ours = [row for row in meta['rows'] if 'quoted' not in row['note'] and row.get('kind') != 'human']
    assert meta['not_run'] == [] and ours and max(row['n_images'] for row in ours) == 2   # every row scored from the ranks' cache
