"""`segment` and `eval` under bad input, reused folders, interruption and untrusted files: nothing lost, nothing silently wrong.

Each case builds its inputs in a temporary folder and checks the outcome on disk: input bytes unchanged, every expected output
present and readable, the error naming the file or the setting, the run record complete, the documented exit code."""
import io, json, os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dynaguide import cli, data as D
from dynaguide.core import TMP_TAG, load_labels, png_meta, save_labels

EXE = str(Path(sys.executable).parent / 'dynaguide')
FAST = ['--max-iter', '2', '--p', '8', '--max-side', '32', '--set', 'threads=1', '--quiet']


def photo(path, h, w, seed=0):
    "A small image with a few flat regions and noise, saved at `path`; returns its bytes."
    rng = np.random.default_rng(seed)
    a = np.kron(rng.integers(0, 255, (4, 4, 3)), np.ones((h // 4 + 1, w // 4 + 1, 1)))[:h, :w]
    a = np.clip(a + rng.normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path.read_bytes()


def segment(*args, capsys=None):
    "Run `dynaguide segment` in this process (the paper profile unless another is given: sizes here are full-resolution); (exit code, stderr)."
    args = [*map(str, args)] + ([] if '--profile' in map(str, args) else ['--profile', 'paper'])
    code = cli.main(['segment', *args])
    return code, (capsys.readouterr().err if capsys else '')


def run_json(out):
    return json.loads((out / 'run.json').read_text())


def label_maps(out):
    "Our label maps in `out`: name -> array (every one must be readable)."
    return {p.name: load_labels(p) for p in sorted(out.glob('*.png')) if (png_meta(p) or {}).get('kind') == 'labels'}


# --- data lost ---------------------------------------------------------------------------------------------------------------

def test_input_inside_out_is_never_overwritten(tmp_path, capsys):
    p = tmp_path / 'p'; orig = photo(p / 'dog.png', 20, 24)
    code, err = segment(p, '--out', p, *FAST, capsys=capsys)
    assert code == 0, err
    assert (p / 'dog.png').read_bytes() == orig                           # the photo is intact
    assert load_labels(p / 'dog_2.png').shape == (20, 24)                 # its map went beside it
    assert png_meta(p / 'dog_2.png')['input'] == str((p / 'dog.png').resolve())
    code, err = segment(p, '--out', p, *FAST, capsys=capsys)             # again: our outputs are not taken as inputs
    assert code == 0, err
    assert (p / 'dog.png').read_bytes() == orig and not (p / 'dog_3.png').exists() and not (p / 'dog_2_2.png').exists()
    r = run_json(p)
    assert [i['labels'] for i in r['images']] == ['dog_2.png'] and r['images'][0]['resumed']
    assert sorted(Path(s['path']).name for s in r['skipped']) == ['dog_2.png', 'dog_2_overlay.png']


def test_name_collisions_give_distinct_outputs(tmp_path, capsys):
    ins = {'x/a.png': (12, 16), 'y/a.png': (14, 18), 'a_2.png': (16, 20), 'b.png': (18, 22), 'b_overlay.png': (20, 24)}
    for i, (n, hw) in enumerate(ins.items()): photo(tmp_path / 'in' / n, *hw, seed=i)
    out = tmp_path / 'o'
    code, err = segment(*[tmp_path / 'in' / n for n in ins], '--out', out, *FAST, capsys=capsys)
    assert code == 0, err
    maps = label_maps(out)
    assert len(maps) == 5
    for name, lab in maps.items():                                        # each map has the size of the input it names
        src = Path(png_meta(out / name)['input'])
        assert lab.shape == ins[str(src.relative_to(tmp_path / 'in'))]
    rec = run_json(out)
    assert len({i['labels'] for i in rec['images']}) == 5 and len({i['overlay'] for i in rec['images']}) == 5
    assert {i['labels'] for i in rec['images']} == set(maps)
    overlays = [p for p in out.glob('*.png') if (png_meta(p) or {}).get('kind') == 'overlay']
    assert len(overlays) == 5 and all(np.asarray(Image.open(p)).ndim == 3 for p in overlays)
    assert (out / 'a_2.png').exists() and png_meta(out / 'a_2.png')['input'].endswith('in/a_2.png')   # a_2.png keeps its own name


def test_symlink_in_out_is_not_written_through(tmp_path, capsys):
    out = tmp_path / 'o'; out.mkdir()
    (tmp_path / 'notes.txt').write_text('mine'); (out / 'x.png').symlink_to(tmp_path / 'notes.txt')
    photo(tmp_path / 'x.png', 10, 12)
    code, err = segment(tmp_path / 'x.png', '--out', out, *FAST, capsys=capsys)
    assert code == 0, err
    assert (tmp_path / 'notes.txt').read_text() == 'mine' and (out / 'x.png').is_symlink()
    assert load_labels(out / 'x_2.png').shape == (10, 12)


def test_out_naming_a_file_and_foreign_run_json(tmp_path, capsys):
    photo(tmp_path / 'a.png', 10, 12); (tmp_path / 'f').write_text('a file')
    code, err = segment(tmp_path / 'a.png', '--out', tmp_path / 'f', *FAST, capsys=capsys)
    assert code == 2 and 'not a folder' in err and (tmp_path / 'f').read_text() == 'a file'
    (tmp_path / 'o').mkdir(); (tmp_path / 'o' / 'run.json').write_text('{"mine": 1}')
    code, err = segment(tmp_path / 'a.png', '--out', tmp_path / 'o', *FAST, capsys=capsys)
    assert code == 2 and 'run.json' in err and (tmp_path / 'o' / 'run.json').read_text() == '{"mine": 1}'
    assert sorted(p.name for p in (tmp_path / 'o').iterdir()) == ['run.json']


def test_two_spellings_of_one_input_give_one_output(tmp_path, capsys):
    photo(tmp_path / 'in' / 'x.png', 10, 12)
    code, err = segment(tmp_path / 'in' / 'x.png', tmp_path / 'in' / '..' / 'in' / 'x.png', '--out', tmp_path / 'o', *FAST, capsys=capsys)
    assert code == 0, err
    assert list(label_maps(tmp_path / 'o')) == ['x.png'] and len(run_json(tmp_path / 'o')['images']) == 1


# --- one failing image, bad settings ---------------------------------------------------------------------------------------------

def test_failing_images_are_recorded_and_the_run_goes_on(tmp_path, capsys):
    d = tmp_path / 'in'
    photo(d / 'a_good.png', 16, 20); photo(d / 'd_good.png', 18, 14, seed=1)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(d / 'b_tiny.png')
    (d / 'c_text.png').write_text('not an image')
    out = tmp_path / 'o'
    photo(d / 'e_big.png', 300, 400, seed=2)                              # at full size: ~0.11 GB estimated, over the 0.08 GB given
    code, err = segment(d, '--out', out, '--max-iter', '2', '--p', '8', '--set', 'threads=1', '--quiet', '--max-memory', '0.08',
                        capsys=capsys)
    assert code == 1
    assert set(label_maps(out)) == {'a_good.png', 'd_good.png'}
    r = run_json(out)
    reasons = {Path(f['path']).name: f['reason'] for f in r['failed']}
    assert set(reasons) == {'b_tiny.png', 'c_text.png', 'e_big.png'}
    assert 'too small' in reasons['b_tiny.png'] and 'cannot read' in reasons['c_text.png']
    assert 'GB available' in reasons['e_big.png'] and '--max-side' in reasons['e_big.png']
    assert r['status'] == 'complete with failures' and all(n in err for n in reasons)


@pytest.mark.parametrize('args, expect', [
    (['--guidance', 'felzenswalb'], 'felzenszwalb'),
    (['--set', 'upsample=foo'], 'bilinear, guided'),
    (['--set', 'align=bogus'], 'majority, hungarian, reference'),
    (['--p', '1'], 'p must be at least 2'),
    (['--set', 'diagonals=maybe'], 'diagonals=maybe'),
    (['--set', 'threads=0'], 'threads must be at least 1'),
    (['--device', 'tpu'], 'choose from cpu'),
] + ([] if torch.cuda.is_available() else [(['--device', 'cuda'], 'not available')]))
def test_bad_settings_exit_2_before_the_first_image(tmp_path, capsys, args, expect):
    photo(tmp_path / 'a.png', 10, 12)
    code, err = segment(tmp_path / 'a.png', '--out', tmp_path / 'o', *FAST, *args, capsys=capsys)
    assert code == 2 and expect in err, err
    assert not (tmp_path / 'o').exists()                                  # nothing written, nothing read


# --- reuse of a folder, provenance, resume -----------------------------------------------------------------------------------------

def test_reused_out_resumes_same_settings_and_refuses_others(tmp_path, capsys):
    for i in range(3): photo(tmp_path / 'in' / f'{i}.png', 12 + i, 16, seed=i)
    out = tmp_path / 'o'
    code, err = segment(tmp_path / 'in', '--out', out, *FAST, capsys=capsys); assert code == 0, err
    first = {p.name: p.read_bytes() for p in out.glob('*.png')}
    (out / '1.png').unlink()                                               # as if killed before this map was written
    photo(tmp_path / 'in' / '2.png', 20, 16, seed=9)                       # an input replaced since (another size)
    code, err = segment(tmp_path / 'in', '--out', out, *FAST, capsys=capsys); assert code == 0, err
    assert (out / '0.png').read_bytes() == first['0.png']                  # untouched: resumed
    assert np.array_equal(load_labels(out / '1.png'), np.asarray(Image.open(io.BytesIO(first['1.png']))))  # redone bit-identically
    assert load_labels(out / '2.png').shape == (20, 16)                    # recomputed from the new bytes
    r = run_json(out)
    assert [(i['labels'], bool(i.get('resumed'))) for i in r['images']] == [('0.png', True), ('1.png', False), ('2.png', False)]
    assert r['threads'] == 1 and r['config']['threads'] == 1 and r['status'] == 'complete'
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, err = segment(tmp_path / 'in', '--out', out, *FAST, '--seed', '1', capsys=capsys)
    assert code == 2 and 'other settings' in err and "seed 0 -> 1" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before       # nothing replaced, nothing mixed


def test_thread_count_is_recorded_when_not_set(tmp_path, capsys):
    photo(tmp_path / 'a.png', 10, 12)
    code, err = segment(tmp_path / 'a.png', '--out', tmp_path / 'o', '--max-iter', '2', '--p', '8', '--quiet', capsys=capsys)
    assert code == 0, err
    r = run_json(tmp_path / 'o')
    assert r['threads'] == torch.get_num_threads() and r['images'][0]['threads'] == r['threads']
    assert png_meta(tmp_path / 'o' / 'a.png')['settings']['config']['threads'] == r['threads']


def test_kill_during_write_then_rerun_matches_uninterrupted(tmp_path, capsys):
    "The console script killed (SIGKILL) while it writes, then the same command again: the outputs of an uninterrupted run."
    ins = [tmp_path / 'in' / f'{i}.png' for i in range(3)]
    for i, p in enumerate(ins): photo(p, 600, 700, seed=i)                 # large enough that each PNG write takes a while
    args = [tmp_path / 'in', *FAST, '--set', 'guidance=none']
    ref, out = tmp_path / 'ref', tmp_path / 'o'
    code, err = segment(*args, '--out', ref, capsys=capsys); assert code == 0, err
    proc = subprocess.Popen([EXE, 'segment', *map(str, args), '--profile', 'paper', '--out', str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0, caught = time.time(), False
    while proc.poll() is None and time.time() - t0 < 120:                   # kill -9 while a temporary file is being written
        if out.is_dir() and (out / '0.png').exists() and any(out.glob(f'.*{TMP_TAG}')):
            os.kill(proc.pid, signal.SIGKILL); caught = True; break
        time.sleep(0.002)
    proc.wait()
    assert caught, 'the run ended before a write could be interrupted'
    maps = label_maps(out)                                                 # every map on disk is whole and right
    assert 1 <= len(maps) < 3
    for n, lab in maps.items(): assert np.array_equal(lab, load_labels(ref / n))
    rec = run_json(out)                                                    # the killed run's record: what had finished
    assert rec['status'] == 'running' and {i['labels'] for i in rec['images']} <= set(maps) and len(rec['images']) >= len(maps) - 1
    code, err = segment(*args, '--out', out, capsys=capsys); assert code == 0, err
    assert not list(out.glob(f'.*{TMP_TAG}'))                                 # leftovers cleaned
    assert set(label_maps(out)) == set(label_maps(ref)) == {f'{i}.png' for i in range(3)}
    for n, lab in label_maps(ref).items():
        assert np.array_equal(load_labels(out / n), lab)
        ov = n.replace('.png', '_overlay.png')
        assert np.array_equal(np.asarray(Image.open(out / ov)), np.asarray(Image.open(ref / ov)))
    rec = run_json(out)
    assert rec['status'] == 'complete' and len(rec['images']) == 3 and sum(bool(i.get('resumed')) for i in rec['images']) == len(maps)


# --- eval ----------------------------------------------------------------------------------------------------------------------

def bsds(root, ids, h=8, w=10):
    "A synthetic BSDS500 test split: left/right halves as the one annotator map."
    gt = np.ones((h, w), int); gt[:, w // 2:] = 2
    for k in ids:
        D._write_bsds_mat(root / 'BSDS500/groundTruth/test' / f'{k}.mat', [gt])
        (root / 'BSDS500/images/test').mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(root / 'BSDS500/images/test' / f'{k}.jpg')
    return gt


def evaluate(*args, capsys):
    code = cli.main(['eval', *map(str, args)])
    o = capsys.readouterr()
    return code, o.out, o.err


def test_eval_reports_unreadable_predictions_per_image(tmp_path, capsys):
    gt = bsds(tmp_path, ['1', '2', '3'])
    pred = tmp_path / 'pred'
    save_labels(pred / '1.png', gt - 1)
    save_labels(pred / '2.png', gt - 1); b = (pred / '2.png').read_bytes(); (pred / '2.png').write_bytes(b[:len(b) // 2])  # truncated
    save_labels(pred / '3.png', np.zeros((5, 5), int))                                                         # wrong size
    code, out, err = evaluate('bsds500', '--pred', pred, '--root', tmp_path, '--out', tmp_path / 'r', '--quiet', capsys=capsys)
    assert code == 1
    assert '2.png' in err and '3.png' in err and '--resize-pred' not in err and 'full resolution' in err
    js = json.loads((tmp_path / 'r/bsds500_test.json').read_text())
    assert js['coverage']['n_scored'] == 1 and js['coverage']['n_failed'] == 2 and js['overall']['all'] == pytest.approx(1.0)
    assert [f['id'] for f in js['failed']] == ['2', '3']


def test_eval_require_all_and_mixed_runs(tmp_path, capsys):
    gt = bsds(tmp_path, ['1', '2'])
    pred = tmp_path / 'pred'; save_labels(pred / '1.png', gt - 1)
    assert evaluate('bsds500', '--pred', pred, '--root', tmp_path, '--quiet', capsys=capsys)[0] == 0
    code, out, err = evaluate('bsds500', '--pred', pred, '--root', tmp_path, '--quiet', '--require-all', capsys=capsys)
    assert code == 1 and '1 of 2 images' in err
    # maps of two `segment` runs with different settings in one folder are refused, not scored as one method
    for k, seed in (('1', 0), ('2', 1)):
        Image.fromarray(np.zeros((8, 10, 3), np.uint8) + 40 * int(k)).save(tmp_path / f'{k}.png')
        assert segment(tmp_path / f'{k}.png', '--out', tmp_path / f's{seed}', *FAST, '--seed', seed)[0] == 0
    mixed = tmp_path / 'mixed'; mixed.mkdir()
    for k, seed in (('1', 0), ('2', 1)): (mixed / f'{k}.png').write_bytes((tmp_path / f's{seed}' / f'{k}.png').read_bytes())
    code, out, err = evaluate('bsds500', '--pred', mixed, '--root', tmp_path, '--quiet', capsys=capsys)
    assert code == 1 and 'mix 2 runs' in err


def test_eval_connectivity_none(tmp_path, capsys):
    gt = bsds(tmp_path, ['1'], 4, 4)
    pred = np.array([[0, 1, 1, 0]] * 4); save_labels(tmp_path / 'pred/1.png', pred)   # label 0 in two pieces
    res = {}
    for c in ('8', 'none'):
        code, out, err = evaluate('bsds500', '--pred', tmp_path / 'pred', '--root', tmp_path, '--quiet', '--connectivity', c,
                                  '--out', tmp_path / c, capsys=capsys)
        assert code == 0, err
        res[c] = json.loads((tmp_path / c / 'bsds500_test.json').read_text())
    assert res['8']['overall']['all'] == pytest.approx(0.5) and res['none']['overall']['all'] == pytest.approx(1 / 3)
    assert res['none']['params']['connectivity'] is None and 'as given' in res['none']['params']['protocol_text']


def saliency_folder(root, gt):
    (root / 'im').mkdir(parents=True); (root / 'gt').mkdir()
    Image.fromarray(np.zeros(gt.shape + (3,), np.uint8)).save(root / 'im/a.jpg'); Image.fromarray(gt).save(root / 'gt/a.png')


@pytest.mark.parametrize('mask, expect', [
    (np.dstack([np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8), np.zeros((4, 4), np.uint8)]), 'colour'),  # green channel
    (np.pad(np.ones((2, 2), np.uint8), 1), 'only 0 and 1'),                                                             # max 1/255
])
def test_eval_saliency_refuses_ambiguous_masks(tmp_path, capsys, mask, expect):
    gt = np.zeros((4, 4), np.uint8); gt[1:3, 1:3] = 255
    saliency_folder(tmp_path, gt)
    (tmp_path / 'pred').mkdir(); Image.fromarray(mask).save(tmp_path / 'pred/a.png')
    code, out, err = evaluate('saliency', '--dataset', 'folder', '--images', tmp_path / 'im', '--masks', tmp_path / 'gt',
                              '--pred', tmp_path / 'pred', '--quiet', capsys=capsys)
    assert code == 1 and expect in err and 'a.png' in err


# --- untrusted files ------------------------------------------------------------------------------------------------------------

class Payload:
    "Creates a file when unpickled by a loader that runs code."
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (Path.touch, (Path(self.marker),))


def test_malicious_checkpoint_is_refused(tmp_path):
    from dynaguide.saliency_head import load_sempart
    marker = tmp_path / 'ran'
    torch.save(dict(head={}, config={}, log=[], epoch=1, x=Payload(str(marker))), tmp_path / 'epoch_001.pt')
    with pytest.raises(ValueError, match='loads safely'): load_sempart(tmp_path / 'epoch_001.pt')
    assert not marker.exists()


def test_sigterm_records_an_interrupted_run(tmp_path):
    for i in range(3): photo(tmp_path / 'in' / f'{i}.png', 600, 700, seed=i)
    out = tmp_path / 'o'
    proc = subprocess.Popen([EXE, 'segment', str(tmp_path / 'in'), *FAST, '--profile', 'paper', '--set', 'guidance=none', '--out', str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while proc.poll() is None and not (out / '0.png').exists() and time.time() - t0 < 120: time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate()[1]
    if proc.returncode == 0: pytest.skip('the run finished before the signal arrived')
    assert proc.returncode == 130 and 'resume' in err
    rec = run_json(out)
    assert rec['status'] == 'interrupted' and not list(out.glob(f'.*{TMP_TAG}'))
    assert {i['labels'] for i in rec['images']} == set(label_maps(out)) and len(rec['images']) >= 1


def test_large_image_is_finished_in_bands_with_the_same_labels(tmp_path, monkeypatch):
    "Above `FULL_RES_BYTES` the full-size step runs in bands of rows: the label map is the one of the whole computation."
    import importlib
    S = importlib.import_module('dynaguide.segment')   # the module (the package exports a function of that name)
    photo(tmp_path / 'in' / 'big.png', 300, 400, seed=3)
    args = ('--max-iter', '3', '--set', 'threads=1', '--quiet', '--profile', 'cpu', '--set', 'guidance=none')
    assert segment(tmp_path / 'in', '--out', tmp_path / 'whole', *args)[0] == 0
    monkeypatch.setattr(S, 'FULL_RES_BYTES', 64 * 400 * 4 * 4 * 7)   # bands of 7 rows with guided upsampling
    assert segment(tmp_path / 'in', '--out', tmp_path / 'bands', *args)[0] == 0
    whole, bands = (np.asarray(Image.open(tmp_path / d / 'big.png')) for d in ('whole', 'bands'))
    assert whole.shape == (300, 400) and np.array_equal(whole, bands)
