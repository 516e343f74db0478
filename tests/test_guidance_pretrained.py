"""Model-backed guidance sources: light import, EfficientNet k-means, U^2-Net-p, SegFormer through the real loaders."""
import os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from dynaguide.guidance import GUIDANCE, compute_guidance, list_guidance, relabel_consecutive

OFFLINE = ['effnet-kmeans', 'effnet-lab-kmeans', 'u2netp', 'u2netp+felzenszwalb', 'u2netp+lab-kmeans']


def data_root() -> Path:
    repo = Path(__file__).resolve().parents[1]
    return Path(os.environ.get('DYNAGUIDE_DATA') or repo.parent / 'shared' / 'data')


@pytest.fixture(scope='module')
def cat():
    from skimage import data as skdata
    return skdata.chelsea().astype(np.float32) / 255


@pytest.fixture(scope='module')
def bsds_image():
    d = data_root() / 'BSDS500' / 'images' / 'val'
    ims = sorted(d.glob('*.jpg')) if d.is_dir() else []
    if not ims: pytest.skip(f'BSDS500 not found under {data_root()}')
    return ims[0]


def test_import_is_light_and_registers_by_name():
    code = ("import sys, dynaguide.guidance as g; names = g.list_guidance(); "
            "print(sorted(m for m in ('timm', 'onnxruntime', 'transformers', 'rembg') if m in sys.modules)); print(names)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == '[]', f'heavy modules imported: {out[0]}'
    for n in OFFLINE + ['segformer']: assert n in out[1]


def test_u2netp_file_found_without_importing_rembg():
    code = "import sys; from dynaguide.guidance_pretrained import u2netp_path; p = u2netp_path(); print(p.name, p.stat().st_size > 1e6, 'rembg' in sys.modules)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ['u2netp.onnx', 'True', 'False']


@pytest.mark.parametrize('name', OFFLINE)
def test_offline_sources(name, cat, bsds_image):
    for img in (cat, bsds_image):
        g = compute_guidance(img, name)
        h, w = (300, 451) if img is cat else g.labels.shape
        assert g.labels.shape == (h, w) and g.labels.dtype == np.int64
        assert (np.unique(g.labels) == np.arange(g.n_segments)).all() and g.n_segments >= 2
        assert GUIDANCE[name].offline and g.provenance == GUIDANCE[name].provenance
    assert 'labels' in g.provenance or 'masks' in g.provenance  # says the weights were trained with labels


def test_effnet_kmeans_is_deterministic_and_finds_the_cat(cat):
    a = compute_guidance(cat, 'effnet-kmeans', k=2).labels
    assert (a == compute_guidance(cat, 'effnet-kmeans', k=2).labels).all()
    wall = np.bincount(a[:, 400:].ravel()).argmax()
    assert (a[60:260, 90:300] != wall).mean() > 0.7
    assert compute_guidance(cat, 'effnet-lab-kmeans', k=4, w_xy=1.0).n_segments == 4


def test_u2netp_saliency_finds_the_cat(cat):
    from dynaguide.guidance_pretrained import u2netp_saliency
    s = u2netp_saliency(cat)
    assert s.shape == (300, 451) and 0 <= s.min() and abs(s.max() - 1) < 1e-3
    assert s[60:260, 90:300].mean() > 0.6 > 0.2 > s[:, 400:].mean()
    fz, both = compute_guidance(cat, 'felzenszwalb').labels, compute_guidance(cat, 'u2netp+felzenszwalb').labels
    mask = s > 0.5
    for r in np.unique(both): assert len(np.unique(mask[both == r])) == 1 and len(np.unique(fz[both == r])) == 1


def test_u2netp_without_onnxruntime_names_the_extra(cat, monkeypatch):
    from dynaguide import guidance_pretrained as gm
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    gm._ort_session.cache_clear()
    with pytest.raises(ImportError, match=r'pip install dynaguide\[u2net\]'): gm.u2netp_saliency(cat)
    gm._ort_session.cache_clear()


@pytest.fixture(scope='module')
def tiny_segformer(tmp_path_factory):
    torch = pytest.importorskip('torch')
    tr = pytest.importorskip('transformers')
    torch.manual_seed(0)
    cfg = tr.SegformerConfig(num_labels=5, depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
                             decoder_hidden_size=16, sr_ratios=[8, 4, 2, 1])
    d = tmp_path_factory.mktemp('seg') / 'tiny-segformer'
    tr.SegformerForSemanticSegmentation(cfg).eval().save_pretrained(d)
    return d


def test_segformer_tiny_model_through_the_real_loader(tiny_segformer, cat, bsds_image):
    import torch, torch.nn.functional as F
    from transformers import SegformerForSemanticSegmentation
    from dynaguide import guidance_pretrained as gm
    gm._segformer.cache_clear()
    for img in (cat, bsds_image):
        g = compute_guidance(img, 'segformer', model=str(tiny_segformer), size=64)
        assert g.labels.max() < 5 and (np.unique(g.labels) == np.arange(g.n_segments)).all() and 'ADE20K' in g.provenance
    assert g.labels.shape in ((321, 481), (481, 321))
    assert gm._segformer.cache_info().misses == 1  # loaded once for both images
    net = SegformerForSemanticSegmentation.from_pretrained(tiny_segformer).eval()
    x = F.interpolate(torch.from_numpy(cat).permute(2, 0, 1)[None], size=(64, 64), mode='bilinear', antialias=True)
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad(): logits = net(pixel_values=x).logits
    assert logits.shape == (1, 5, 16, 16)
    ref = F.interpolate(logits, size=cat.shape[:2], mode='bilinear').argmax(1)[0].numpy()
    assert (compute_guidance(cat, 'segformer', model=str(tiny_segformer), size=64).labels == relabel_consecutive(ref)).all()
    assert not GUIDANCE['segformer'].offline


def test_segformer_missing_model_is_a_clear_error(cat, tmp_path, monkeypatch):
    import huggingface_hub.constants as hfc
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setattr(hfc, 'HF_HUB_OFFLINE', True)
    with pytest.raises(FileNotFoundError, match='save_pretrained'): compute_guidance(cat, 'segformer', model=str(tmp_path / 'none'))
    with pytest.raises(FileNotFoundError, match='cannot load SegFormer'): compute_guidance(cat, 'segformer', model='nobody/segformer-not-cached')
