"Every preset and every offline guidance on a real image; odd inputs give correct results or clear errors."
import numpy as np, pytest, torch
from PIL import Image
import dynaguide
from dynaguide.segment import PRESETS, n_labels
from dynaguide.guidance import compute_guidance
from dynaguide.core import ImageReadError

FAST = dict(max_iter=5, p=16, max_side=96, threads=1)

@pytest.mark.parametrize('preset', list(PRESETS))
def test_every_preset_on_bsds(bsds_image, preset):
    r = dynaguide.segment(bsds_image, preset=preset, **FAST)
    assert r.labels.shape == (321, 481) or r.labels.shape == (481, 321)
    assert 1 <= r.labels.max() + 1 <= 16 and 1 <= r.n_iter <= 5

@pytest.mark.parametrize('source', ['none', 'lab-kmeans', 'felzenszwalb', 'slic'])
def test_every_offline_guidance_on_bsds(bsds_image, source):
    g = compute_guidance(bsds_image, source)
    assert g.labels.shape[:2] in ((321, 481), (481, 321)) and g.labels.min() == 0
    assert len(np.unique(g.labels)) == g.n_segments and g.provenance
    r = dynaguide.segment(bsds_image, guidance=source, **FAST)
    assert r.guidance.source == source
    assert (r.trace[0]['guide'] is None) == (source == 'none')

def test_guidance_as_label_map(bsds_image):
    g = compute_guidance(bsds_image, 'slic').labels * 7 + 3
    r = dynaguide.segment(bsds_image, guidance=g, **FAST)
    assert r.guidance.source == 'given' and r.trace[0]['guide'] is not None
    with pytest.raises(ValueError, match='does not match'): dynaguide.segment(bsds_image, guidance=g[:10], **FAST)

@pytest.mark.parametrize('mode', ['L', 'P', 'RGBA', 'I;16', 'CMYK', 'LA', '1'])
def test_odd_image_modes(tmp_path, mode):
    rgb = (np.random.default_rng(1).random((24, 30, 3)) * 255).astype(np.uint8)
    im = Image.fromarray(rgb)
    if mode == 'I;16': im = Image.fromarray((rgb[..., 0].astype(np.uint16) * 257))
    else: im = im.convert(mode)
    p = tmp_path / ('x.tif' if mode == 'CMYK' else 'x.png')
    im.save(p)
    r = dynaguide.segment(p, **FAST)
    assert r.labels.shape == (24, 30)

def test_bad_inputs(tmp_path):
    (tmp_path / 'e.jpg').write_bytes(b'')
    with pytest.raises(ImageReadError, match='e.jpg'): dynaguide.segment(tmp_path / 'e.jpg', **FAST)
    with pytest.raises(ImageReadError, match='\\[0, 1\\]'): dynaguide.segment(np.full((8, 8, 3), 255.0), **FAST)
    with pytest.raises(KeyError, match='unknown guidance'): dynaguide.segment(np.zeros((8, 8, 3)), guidance='nope', **FAST)
    with pytest.raises(KeyError, match='unknown preset'): dynaguide.segment(np.zeros((8, 8, 3)), preset='nope')

def test_tiny_and_constant_images():
    with pytest.raises(ValueError, match='too small'): dynaguide.segment(np.zeros((1, 1, 3)), max_iter=3, p=4, threads=1)
    assert dynaguide.segment(np.zeros((1, 2, 3)), max_iter=3, p=4, threads=1).labels.shape == (1, 2)
    r = dynaguide.segment(np.full((16, 16, 3), 0.5), max_iter=3, p=4, threads=1)
    assert r.labels.shape == (16, 16)

def test_deterministic_on_cpu(bsds_image):
    a, b = (dynaguide.segment(bsds_image, device='cpu', **FAST) for _ in range(2))
    assert np.array_equal(a.labels, b.labels) and a.trace == b.trace


def test_compiled_loss_terms_match_eager():
    "`compile_loss`: the plain terms under torch.compile give the eager terms' values and gradient, for both continuity kinds, with and without guidance (the loop test covers the float32 layout)."
    from dynaguide.segment import make_config, loss_terms, compiled_loss_terms, step_loss
    from dynaguide.losses import guide_target
    g = torch.Generator().manual_seed(0)
    for preset, (h, w) in (('dynaguide', (13, 17)), ('kanezaki', (9, 21))):   # two sizes: one graph for both (dynamic shapes)
        cfg = make_config(preset, p=8)
        R = torch.randn(1, 8, h, w, generator=g).contiguous(memory_format=torch.channels_last).requires_grad_()   # the bf16 path's layout
        clusters = R.detach().argmax(1)
        target = guide_target(torch.randint(0, 3, (1, h, w), generator=g), clusters, 8) if cfg.guide_weight else None
        wc = torch.tensor(0.7)
        a, va = loss_terms(R, clusters, target, wc, cfg)
        b, vb = compiled_loss_terms()(R, clusters, target, wc, cfg)
        ga, = torch.autograd.grad(a, R); gb, = torch.autograd.grad(b, R)
        assert va.shape == vb.shape == (4 if target is not None else 3,)
        torch.testing.assert_close(vb, va, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(gb, ga, rtol=1e-5, atol=1e-7)
        loss, _ = step_loss(R, None, make_config(preset, p=8, compile_loss=True))   # through the loop's entry: the gradient keeps R's layout
        assert torch.autograd.grad(loss, R)[0].is_contiguous(memory_format=torch.channels_last)


def test_compile_loss_runs_the_loop():
    "A short loop with `compile_loss=True` follows the eager loop's trace (same K, losses equal to rounding) and records the setting."
    x = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(1))
    img = (x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    kw = dict(profile='cpu', max_iter=4, min_labels=1, precision='fp32')
    eager = dynaguide.segment(img, 'felzenszwalb', **kw)
    comp = dynaguide.segment(img, 'felzenszwalb', compile_loss=True, **kw)
    assert comp.config.compile_loss and not eager.config.compile_loss
    assert [t['K'] for t in comp.trace] == [t['K'] for t in eager.trace]
    np.testing.assert_allclose([t['loss'] for t in comp.trace], [t['loss'] for t in eager.trace], rtol=1e-4)
