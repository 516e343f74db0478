"TokenCut saliency with the EfficientNet-Lite0 backbone on three real ECSSD images."
import numpy as np
import pytest
import torch
from conftest import need


def test_tokencut_saliency_ecssd():
    root = need('ECSSD', 'images')
    pytest.importorskip('timm')
    from dynaguide.backbones import load_backbone
    from dynaguide.data import ECSSD
    from dynaguide.metrics import score_saliency
    from dynaguide.saliency import tokencut, tokencut_saliency, refine_saliency
    from dynaguide.backbones import extract_features
    torch.set_num_threads(1)
    ds, bb = ECSSD(root), load_backbone('effnet_lite0', device='cpu')
    for i in range(3):
        it = ds[i]
        im = it.image()
        H, W = it.mask.shape
        f = extract_features(bb, im)
        r = tokencut(f.feats)
        assert r['mask'].shape == r['eigvec'].shape == f.grid and r['mask'].dtype == bool
        assert 0 < r['mask'].sum() < r['mask'].size and r['mask'][r['seed']]
        soft = tokencut_saliency(im, bb)
        assert soft.shape == (H, W) and soft.dtype == np.float32
        assert 0 <= soft.min() and soft.max() <= 1 and 0 < (soft > 0.5).mean() < 1
        gf = refine_saliency(im, soft, 'gf')
        assert gf.shape == (H, W) and 0 <= gf.min() and gf.max() <= 1
        assert np.abs(gf - soft).mean() < 0.1                      # a refinement, not a different map
        assert ((gf > 0.5) == (soft > 0.5)).mean() > 0.9
        assert np.array_equal(gf, tokencut_saliency(im, bb, post='gf'))
        score_saliency(gf, it.mask, it.id)                           # accepted by the metric (range checked there)
