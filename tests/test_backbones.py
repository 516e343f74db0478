"""Backbones: official checkpoint formats through the real loaders, the key hook, EfficientNet-Lite0 real weights, the feature cache."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

timm = pytest.importorskip('timm')
from timm.models import save_for_hf

from dynaguide.backbones import (BACKBONES, FeatureCache, cached_features, effnet_lite0_weights, extract_features, fit_size, image_hash,
                                 load_backbone, load_effnet_lite0, load_vit, map_effnet_lite0_state_dict, vit_state_dict)
from dynaguide.core import image_to_tensor

TINY = dict(depth=2, embed_dim=48, num_heads=2)


def data_root() -> Path:
    repo = Path(__file__).resolve().parents[1]
    return Path(os.environ.get('DYNAGUIDE_DATA') or repo.parent / 'shared' / 'data')


@pytest.fixture(scope='module')
def tiny_vit():
    torch.manual_seed(1)
    return timm.create_model('vit_small_patch16_224', pretrained=False, num_classes=0, dynamic_img_size=True, **TINY).eval()


@pytest.fixture(scope='module')
def formats(tiny_vit, tmp_path_factory):
    "The tiny ViT saved in every official format: DINO raw, DINO training checkpoint, iBOT teacher, timm/HF directory."
    d = tmp_path_factory.mktemp('vit')
    sd = tiny_vit.state_dict()
    torch.save(sd, d / 'dino_deitsmall16_pretrain.pth')
    torch.save({'student': {'module.backbone.' + k: v + 1 for k, v in sd.items()},
                'teacher': {'module.backbone.' + k: v for k, v in sd.items()} | {'module.head.last_layer.weight_g': torch.ones(1, 1)},
                'epoch': 3}, d / 'checkpoint.pth')
    torch.save({'state_dict': {'module.backbone.' + k: v for k, v in sd.items()} | {'module.backbone.masked_embed': torch.zeros(1, 48)}},
               d / 'checkpoint_teacher.pth')
    save_for_hf(tiny_vit, d / 'hfdir', model_args=TINY)
    return d


@pytest.mark.parametrize('fmt', ['dino_deitsmall16_pretrain.pth', 'checkpoint.pth', 'checkpoint_teacher.pth', 'hfdir'])
@pytest.mark.parametrize('name', ['dino_vits16', 'ibot_vits16'])
def test_vit_formats_give_the_same_keys(formats, tiny_vit, fmt, name):
    kw = {} if fmt == 'hfdir' else TINY
    bb = load_vit(formats / fmt, name, device='cpu', **kw)
    x = torch.rand(2, 3, 48, 80)  # non-square
    k = bb(x)
    assert k.shape == (2, 48, 3, 5) and bb.stride == 16 and bb.dim == 48
    # keys by hand: run the blocks, apply the last block's qkv weights to its normed input, take the middle third, drop CLS
    with torch.no_grad():
        m = tiny_vit
        t = m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(bb.normalize(x)))))
        for blk in m.blocks[:-1]: t = blk(t)
        qkv = m.blocks[-1].attn.qkv
        ref = F.linear(m.blocks[-1].norm1(t), qkv.weight, qkv.bias)[:, 1:, 48:96]
    torch.testing.assert_close(k, ref.transpose(1, 2).reshape(2, 48, 3, 5), atol=1e-5, rtol=1e-4)


def test_teacher_not_student_is_loaded(formats):
    a = load_vit(formats / 'checkpoint.pth', 'dino_vits16', device='cpu', **TINY)
    b = load_vit(formats / 'checkpoint.pth', 'dino_vits16', device='cpu', checkpoint_key='student', **TINY)
    x = torch.rand(1, 3, 32, 32)
    assert not torch.allclose(a(x), b(x))


def test_vit_state_dict_reports_dropped_keys(formats):
    sd, dropped = vit_state_dict(torch.load(formats / 'checkpoint_teacher.pth', weights_only=True))
    assert 'masked_embed' in dropped and 'pos_embed' in sd and not any(k.startswith(('module.', 'backbone.')) for k in sd)
    _, dropped = vit_state_dict(torch.load(formats / 'checkpoint.pth', weights_only=True))
    assert dropped == ['head.last_layer.weight_g']


def test_heads_mean_and_bad_inputs(formats):
    bb = load_vit(formats / 'checkpoint_teacher.pth', 'ibot_vits16', heads='mean', device='cpu', **TINY)
    assert bb(torch.rand(1, 3, 32, 64)).shape == (1, 24, 2, 4)
    with pytest.raises(ValueError, match='multiple of 16'): bb(torch.rand(1, 3, 30, 64))
    with pytest.raises(RuntimeError, match='missing'): load_vit(formats / 'checkpoint.pth', 'dino_vits16', device='cpu', depth=3, embed_dim=48, num_heads=2)
    with pytest.raises(RuntimeError, match='does not fit'): load_vit(formats / 'checkpoint.pth', 'dino_vits8', device='cpu', **TINY)
    with pytest.raises(FileNotFoundError, match='no such'): load_vit(formats / 'absent.pth', 'dino_vits16')
    with pytest.raises(FileNotFoundError, match='checkpoint_teacher'): load_vit(None, 'ibot_vits16')


def test_pos_embed_trained_at_another_size_is_resampled(tmp_path):
    m = timm.create_model('vit_small_patch16_224', img_size=96, pretrained=False, num_classes=0, **TINY)
    torch.save(m.state_dict(), tmp_path / 'at96.pth')
    bb = load_vit(tmp_path / 'at96.pth', 'dino_vits16', device='cpu', **TINY)
    assert bb.model.pos_embed.shape == (1, 1 + 14 * 14, 48)
    assert bb(torch.rand(1, 3, 96, 160)).shape == (1, 48, 6, 10)


def test_missing_hub_model_gives_a_clear_error(monkeypatch):
    import huggingface_hub.constants as hfc
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(hfc, 'HF_HUB_OFFLINE', True)
    with pytest.raises(FileNotFoundError, match='pass a local checkpoint'):
        load_vit('nobody/vit-that-is-not-cached', 'dino_vits16')


def test_hub_weights_when_cached_locally(monkeypatch):
    "The default hub path runs only where the DINO weights are already in the local cache (never downloads)."
    from huggingface_hub import try_to_load_from_cache
    import huggingface_hub.constants as hfc
    hub_id = BACKBONES['dino_vits16'].hub_id
    if not isinstance(try_to_load_from_cache(hub_id, 'model.safetensors'), str): pytest.skip(f'{hub_id} is not in the local Hugging Face cache')
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setattr(hfc, 'HF_HUB_OFFLINE', True)
    bb = load_backbone('dino_vits16', device='cpu')
    assert bb(torch.rand(1, 3, 64, 96)).shape == (1, 384, 4, 6)


@pytest.fixture(scope='module')
def eff():
    return load_effnet_lite0(device='cpu')


def test_effnet_every_tensor_mapped_and_cat_classified(eff):
    from skimage import data as skdata
    sd = torch.load(effnet_lite0_weights(), weights_only=True)
    mapped = map_effnet_lite0_state_dict(sd, eff.model)
    assert len(sd) == len(mapped) == len(eff.model.state_dict()) == 296
    for k, v in eff.model.state_dict().items(): assert torch.equal(v, mapped[k]), k
    x = F.interpolate(image_to_tensor(skdata.chelsea()), size=(224, 224), mode='bilinear', antialias=True)
    top5 = eff.classify(x).topk(5).indices[0].tolist()
    assert set(top5) & set(range(281, 286)), f'no cat class (281-285) in the top-5 {top5}'
    # timm's PyTorch-padding variant takes the same names; it too sees a cat
    alt = load_effnet_lite0(arch='efficientnet_lite0', mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), device='cpu')
    assert set(alt.classify(x).topk(5).indices[0].tolist()) & set(range(281, 286))


def test_effnet_stages_shapes(eff):
    img = np.random.default_rng(0).random((321, 481, 3)).astype(np.float32)
    f = extract_features(eff, img)
    assert f.input_size == (320, 480) and f.feats.shape == (1, 112, 20, 30) and f.stride == 16
    bb = load_effnet_lite0((2, 4), device='cpu')
    assert bb.multiple == 32 and bb.stride == 8
    assert extract_features(bb, img, size=(160, 224)).feats.shape == (1, 40 + 320, 20, 28)


def test_effnet_on_bsds_image(eff):
    d = data_root() / 'BSDS500' / 'images' / 'val'
    ims = sorted(d.glob('*.jpg')) if d.is_dir() else []
    if not ims: pytest.skip(f'BSDS500 not found under {data_root()}')
    f = extract_features(eff, ims[0])
    assert f.grid == (f.input_size[0] // 16, f.input_size[1] // 16) and f.input_size in ((320, 480), (480, 320))
    assert torch.isfinite(f.feats).all()


def test_feature_cache_round_trip(eff, formats, tmp_path):
    img = np.random.default_rng(1).random((60, 90, 3)).astype(np.float32)
    a = cached_features(eff, img, size=128, cache=tmp_path)
    files = list(tmp_path.rglob('*.pt'))
    assert len(files) == 1 and files[0].name == f'{image_hash(img)}_{a.input_size[0]}x{a.input_size[1]}.pt'
    b = cached_features(eff, img, size=128, cache=tmp_path)
    assert b.feats.dtype == torch.float32 and torch.equal(b.feats, a.feats.half().float()) and b.tag == a.tag
    # the second call really reads the file: change it on disk and see the change
    d = torch.load(files[0], weights_only=True); d['feats'] = d['feats'] * 0; torch.save(d, files[0])
    assert cached_features(eff, img, size=128, cache=tmp_path).feats.abs().max() == 0
    vit = load_vit(formats / 'checkpoint_teacher.pth', 'ibot_vits16', device='cpu', **TINY)
    cached_features(vit, img, size=(32, 48), cache=FeatureCache(tmp_path), image_id='duts/tr/0001')
    assert len(list(tmp_path.rglob('*.pt'))) == 2
    assert FeatureCache(tmp_path).get('duts/tr/0001', vit.tag, (32, 48)).feats.shape == (1, 48, 2, 3)
    assert FeatureCache(tmp_path).get('duts/tr/0001', vit.tag, (48, 48)) is None


def test_fit_size():
    assert fit_size((321, 481), 8) == (320, 480)
    assert fit_size((321, 481), 16, 320) == (208, 320)
    assert fit_size((10, 10), 16, (320, 330)) == (320, 336)
