"The `dynaguide` console script end to end."
import json, subprocess, sys
from pathlib import Path
import numpy as np
from PIL import Image
import pytest

EXE = str(Path(sys.executable).parent / 'dynaguide')
FAST = ['--max-iter', '3', '--p', '8', '--max-side', '48', '--set', 'threads=1', '--quiet']

def run(*args, cwd=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd)

@pytest.fixture
def folder(tmp_path):
    d = tmp_path / 'in'; d.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((30, 40, 3)) * 255).astype(np.uint8)).save(d / 'good.jpg')
    (d / 'corrupt.png').write_bytes(b'\x89PNG\r\n\x1a\n broken')
    return d

def test_segment_folder_one_good_one_corrupt(folder, tmp_path):
    out = tmp_path / 'out'
    r = run('segment', folder, '--out', out, *FAST)
    assert r.returncode == 1, r.stderr
    assert 'corrupt.png' in r.stderr and 'cannot read' in r.stderr
    lab = np.asarray(Image.open(out / 'good.png'))
    assert lab.shape == (30, 40) and lab.dtype in (np.uint16, np.int32) and lab.max() < 8
    assert (out / 'good_overlay.png').exists()
    run_json = json.loads((out / 'run.json').read_text())
    assert [i['labels'] for i in run_json['images']] == ['good.png'] and len(run_json['failed']) == 1

def test_profile_auto_is_said_and_recorded(folder, tmp_path):
    "Without --profile the run picks paper on CUDA and cpu otherwise, says so on stderr and records both the asked and the used profile."
    import torch
    out = tmp_path / 'out'
    r = run('segment', folder / 'good.jpg', '--out', out, *[a for a in FAST if a != '--quiet'])
    assert r.returncode == 0, r.stderr
    used = 'paper' if torch.cuda.is_available() else 'cpu'
    rec = json.loads((out / 'run.json').read_text())
    assert (rec['profile'], rec['profile_asked']) == (used, 'auto')
    assert f'profile {used} (asked' in r.stderr and f"precision {rec['config']['precision']}" in r.stderr
    assert rec['config']['precision'] in ('fp32', 'bf16', 'fp16') and rec['config']['max_iter'] == 3
    r = run('segment', folder / 'good.jpg', '--out', tmp_path / 'o2', *FAST, '--set', 'precision=half')
    assert r.returncode == 2 and 'precision' in r.stderr

def test_segment_all_good_exits_zero_and_glob(folder, tmp_path):
    r = run('segment', str(folder / '*.jpg'), '--out', tmp_path / 'o', '--no-overlay', '--preset', 'kanezaki', *FAST)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / 'o').iterdir()) == ['good.png', 'run.json']

def test_output_names_cannot_escape(folder, tmp_path):
    out = tmp_path / 'deep' / 'out'
    r = run('segment', folder / '..' / 'in' / 'good.jpg', '--out', out, *FAST)
    assert r.returncode == 0, r.stderr
    written = [p for p in tmp_path.rglob('*.png') if p.parent != folder]
    assert written and all(out in p.parents for p in written)

def test_bad_settings_and_missing_paths(tmp_path):
    assert run('segment', tmp_path / 'nothing.png', '--out', tmp_path / 'o', *FAST).returncode == 1
    r = run('segment', tmp_path, '--out', tmp_path / 'o', '--set', 'nonsense=1')
    assert r.returncode == 2 and 'unknown setting' in r.stderr

def test_guidance_listing():
    r = run('guidance')
    assert r.returncode == 0 and all(n in r.stdout for n in ('felzenszwalb', 'slic', 'lab-kmeans', 'none'))
