"Guided filter, fast guided upsampling, bilateral solver and crop-zoom consistency on real images (BSDS500, ECSSD) when present."
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import need
from dynaguide.core import load_image
from dynaguide.filters import (GuidedFilter, bilateral_solve, fast_guided_upsample, gray_guide, guided_filter,
                               reference_guided_filter)
from dynaguide.consistency import crop_zoom, crop_zoom_consistency, sample_crop_boxes


def bsds_images(n, landscape=True):
    "The first `n` BSDS500 val images of one orientation as (1, 3, H, W) float32 tensors."
    d = need('BSDS500', 'images', 'val')/'BSDS500'/'images'/'val'
    out = []
    for p in sorted(d.glob('*.jpg')):
        im = load_image(p)
        if (im.shape[1] > im.shape[0]) == landscape: out.append(torch.from_numpy(im).permute(2, 0, 1)[None])
        if len(out) == n: break
    if len(out) < n: pytest.skip(f'fewer than {n} BSDS500 val images of that orientation in {d}')
    return out


def smooth_map(h, w, seed=0, c=1):
    "A smooth soft map (1, c, h, w) in (0, 1)."
    x = torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(seed))
    return torch.sigmoid(60 * (F.avg_pool2d(x, 25, 1, 12, count_include_pad=False) - 0.5))


def iou(a, b): return (a & b).sum() / max((a | b).sum(), 1)


def test_guided_filter_real_image_matches_float64_reference():
    img = bsds_images(1)[0]
    H, W = img.shape[-2:]
    p = smooth_map(H, W)
    for guide in (gray_guide(img), img):
        ref = reference_guided_filter(guide[0].double().numpy(), p[0, 0].double().numpy(), 9, 1e-3)
        for src in (p, p.clone().requires_grad_()):     # OpenCV window sums, then the differentiable torch path
            out = guided_filter(guide, src)[0, 0].detach().double().numpy()
            assert np.abs(out - ref).max() < 1e-5


def test_module_functional_batch_and_channels_agree_on_real_images():
    imgs = torch.cat(bsds_images(3))
    p = torch.cat([smooth_map(*imgs.shape[-2:], seed=s, c=2) for s in range(3)])
    batched = GuidedFilter()(imgs, p)
    assert torch.equal(batched, guided_filter(gray_guide(imgs), p, 9, 1e-3))
    singles = torch.cat([guided_filter(gray_guide(imgs[i:i + 1]), p[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, singles, atol=1e-6, rtol=0)
    torch.testing.assert_close(GuidedFilter(gray=False)(imgs, p[:, 1:]), guided_filter(imgs, p[:, 1:]), atol=0, rtol=0)


def test_fast_guided_upsample_multichannel_response_on_real_image():
    img = bsds_images(1)[0]
    H, W = img.shape[-2:]
    h, w = round(H / 3), round(W / 3)                       # a response optimised at a third of the size
    resp = torch.randn(1, 100, h, w, generator=torch.Generator().manual_seed(1))
    up = fast_guided_upsample(gray_guide(img), resp)
    assert up.shape == (1, 100, H, W) and torch.isfinite(up).all()
    for c in (0, 57, 99):
        torch.testing.assert_close(up[:, c:c + 1], fast_guided_upsample(gray_guide(img), resp[:, c:c + 1]), atol=1e-5, rtol=0)
    same = fast_guided_upsample(gray_guide(img), smooth_map(H, W))     # equal sizes: the plain guided filter
    torch.testing.assert_close(same, guided_filter(gray_guide(img), smooth_map(H, W)), atol=1e-6, rtol=0)


def test_bilateral_solver_and_guided_filter_improve_a_coarse_noisy_mask_on_ecssd():
    d = need('ECSSD', 'images')/'ECSSD'/'images'
    rng = np.random.default_rng(0)
    rows = []
    for k in range(1, 9):
        img = load_image(d/f'{k:04d}.jpg')
        gt = np.asarray(Image.open(d.parent/'ground_truth_mask'/f'{k:04d}.png')) > 127
        H, W = gt.shape
        low = F.adaptive_avg_pool2d(torch.from_numpy(gt.astype(np.float32))[None, None], (H // 16, W // 16))  # a ViT-S/16 grid
        low = (low + torch.from_numpy(rng.normal(0, 0.15, low.shape)).float()).clamp(0, 1)
        coarse = F.interpolate(low, size=(H, W), mode='bilinear', align_corners=False)
        bs = bilateral_solve(img, coarse[0, 0].numpy())
        assert bs.shape == (H, W) and bs.dtype == np.float32 and bs.min() >= 0 and bs.max() <= 1
        raw = bilateral_solve(img, coarse[0, 0].numpy(), clip=False)
        assert raw.min() > -1e-3 and raw.max() < 1 + 1e-3
        gf = guided_filter(gray_guide(torch.from_numpy(img).permute(2, 0, 1)[None]), coarse)[0, 0].numpy()
        rows.append((iou(coarse[0, 0].numpy() > 0.5, gt), iou(bs > 0.5, gt), iou(gf > 0.5, gt)))
    m_coarse, m_bs, m_gf = np.mean(rows, 0)
    print(f"mean IoU coarse {m_coarse:.3f}, bilateral solver {m_bs:.3f}, guided filter {m_gf:.3f}")
    assert m_bs > m_coarse + 0.01, (m_coarse, m_bs)
    assert m_gf > m_coarse + 0.005, (m_coarse, m_gf)


def test_crop_zoom_consistency_gradient_on_a_conv_net_and_real_images():
    imgs = F.interpolate(torch.cat([im[..., :320, :320] for im in bsds_images(2)]), size=(96, 96), mode='bilinear', antialias=True)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 1, 3, padding=1))
    with torch.no_grad():
        for m in net[::2]: m.weight.mul_(6)                                  # outputs that vary over the image
    f = lambda x: torch.sigmoid(net(x))
    boxes = sample_crop_boxes(2, 96, 96, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(boxes[0], boxes[1])
    loss, ex = crop_zoom_consistency(f, imgs, f(imgs), boxes=boxes, return_extras=True)
    assert loss.item() > 1e-4
    net.zero_grad(); loss.backward()
    got = [q.grad.clone() for q in net.parameters()]
    # the same gradient as with a teacher computed separately and detached by hand ...
    T = guided_filter(gray_guide(ex['crops']), f(ex['crops']), 9, 1e-3).clamp(1e-6, 1 - 1e-6)
    net.zero_grad(); F.mse_loss(crop_zoom(f(imgs), boxes), T.detach()).backward()
    for g1, q in zip(got, net.parameters()): torch.testing.assert_close(g1, q.grad, atol=1e-9, rtol=1e-5)
    # ... and not the one with the teacher attached
    net.zero_grad(); F.mse_loss(crop_zoom(f(imgs), boxes), T).backward()
    diff = max((g1 - q.grad).abs().max().item() for g1, q in zip(got, net.parameters()))
    scale = max(g1.abs().max().item() for g1 in got)
    print(f"grad scale {scale:.2e}, attached-teacher difference {diff:.2e}, loss {loss.item():.2e}")
    assert diff > 1e-2 * scale, (diff, scale)
    # a small step along it lowers the student's distance to the (fixed) teacher
    with torch.no_grad():
        for g1, q in zip(got, net.parameters()): q -= 1e-3 * g1 / max(g.norm() for g in got)
        after = F.mse_loss(crop_zoom(f(imgs), boxes), ex['teacher'])
    assert after < loss.detach(), (after, loss)
    assert not crop_zoom_consistency(f, imgs, f(imgs).detach(), boxes=boxes).requires_grad


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA not available: the CPU path is tested above')
def test_cuda_matches_cpu():
    img = bsds_images(1)[0]
    H, W = img.shape[-2:]
    p, low = smooth_map(H, W, c=3), torch.rand(1, 5, H // 4, W // 4, generator=torch.Generator().manual_seed(2))
    for guide in (gray_guide(img), img):
        torch.testing.assert_close(guided_filter(guide.cuda(), p.cuda()).cpu(), guided_filter(guide, p), atol=1e-5, rtol=0)
        torch.testing.assert_close(fast_guided_upsample(guide.cuda(), low.cuda()).cpu(), fast_guided_upsample(guide, low), atol=1e-5, rtol=0)
    model = lambda x: x.mean(1, keepdim=True)
    boxes = sample_crop_boxes(1, H, W, generator=torch.Generator().manual_seed(0))
    l_gpu = crop_zoom_consistency(model, img.cuda(), model(img.cuda()) ** 2, boxes=boxes)
    torch.testing.assert_close(l_gpu.cpu(), crop_zoom_consistency(model, img, model(img) ** 2, boxes=boxes), atol=1e-6, rtol=1e-4)
