"""Time the guided filter, the fast guided upsample and the bilateral solver per 481x321 image.

Our `guided_filter` against kornia's `guided_blur` and OpenCV's `cv2.ximgproc.guidedFilter`, single image and batched, all in
this process, printed as ratios to ours. OpenCV's ximgproc is in opencv-contrib only, which cannot share an environment with
the project's opencv-python-headless (both install the `cv2` package), so it is a dev-only comparison: run this script with an
interpreter that has opencv-contrib-python-headless of the same version and sees the project's packages, e.g.

    /tmp/cvbench/bin/python benchmarks/bench_filters.py

(set up with `python3.11 -m venv /tmp/cvbench && /tmp/cvbench/bin/pip install --no-deps opencv-contrib-python-headless==4.14.0.94`
and a `.pth` file that calls `site.addsitedir` on the project venv's site-packages). With `.venv/bin/python` the OpenCV rows
are skipped with the reason printed. Options: --reps N, --threads N, --batch B, --channels C. On a shared 2-core
machine use --threads 1: with 2 threads the numbers are dominated by contention with other processes.
"""
from __future__ import annotations
import argparse, statistics, sys, time

import numpy as np
import torch
import torch.nn.functional as F

from dynaguide.core import CHECKOUT_DATA, data_root, load_image
from dynaguide.filters import BilateralGrid, bilateral_solve, fast_guided_upsample, gray_guide, guided_filter



def bench(f, reps: int, sync=None) -> float:
    "Median seconds of `reps` calls after one warm-up call."
    f()
    ts = []
    for _ in range(reps):
        if sync: sync()
        t = time.perf_counter(); f()
        if sync: sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def load_images(n: int) -> tuple[torch.Tensor, str]:
    "`n` landscape 481x321 images (n, 3, 321, 481): BSDS500 val if present, else scikit-image's coffee resized."
    data = data_root(fallback=CHECKOUT_DATA, missing_ok=True)
    root = data/'BSDS500'/'images'/'val' if data is not None else None
    ims = []
    if root is not None and root.is_dir():
        for p in sorted(root.glob('*.jpg')):
            im = load_image(p)
            if im.shape[:2] == (321, 481): ims.append(torch.from_numpy(im).permute(2, 0, 1))
            if len(ims) == n: return torch.stack(ims), f'BSDS500 val ({root})'
    from skimage import data
    x = torch.from_numpy(data.coffee()).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(x, size=(321, 481), mode='bilinear', antialias=True, align_corners=False).clamp(0, 1)
    return x.expand(n, -1, -1, -1).contiguous(), 'scikit-image coffee resized to 481x321 (BSDS500 not found)'


def soft_maps(n: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    "Smooth soft maps (n, c, h, w) in (0, 1)."
    x = torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))
    return torch.sigmoid(60 * (F.avg_pool2d(x, 25, 1, 12, count_include_pad=False) - 0.5))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--threads', type=int, default=None, help='torch and OpenCV threads (default: leave as is)')
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--channels', type=int, default=100)
    args = ap.parse_args(argv)
    try:
        import cv2
        has_ximgproc = hasattr(cv2, 'ximgproc')
        cv_reason = '' if has_ximgproc else f'cv2 {cv2.__version__} at {cv2.__file__} has no ximgproc (opencv-contrib not installed in this interpreter)'
    except ImportError as e:
        cv2, has_ximgproc, cv_reason = None, False, f'cv2 not importable ({e})'
    if args.threads:
        torch.set_num_threads(args.threads)
        if cv2 is not None: cv2.setNumThreads(args.threads)
    from kornia.filters import guided_blur
    import kornia

    B, C, R, eps, reps = args.batch, args.channels, 9, 1e-3, args.reps
    imgs, src = load_images(B)
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    print(f'python {sys.version.split()[0]}, torch {torch.__version__}, kornia {kornia.__version__}, '
          f'cv2 {cv2.__version__ if cv2 else "-"} (ximgproc: {has_ximgproc}); device {dev}; torch threads {torch.get_num_threads()}'
          + (f', OpenCV threads {cv2.getNumThreads()}' if cv2 else ''))
    print(f'images: {src}; radius {R}, eps {eps}; median of {reps} runs after a warm-up; ms per image')
    if not has_ximgproc: print(f'OpenCV ximgproc rows skipped: {cv_reason}')
    sync = torch.cuda.synchronize if dev.type == 'cuda' else None

    rows = []
    def row(case, name, sec, per):
        rows.append((case, name, 1e3 * sec / per))

    cases = [('gray guide, C=1, B=1', 1, 1, 1), (f'gray guide, C=1, B={B}', B, 1, 1), ('colour guide, C=1, B=1', 1, 3, 1),
             (f'gray guide, C={C}, B=1', 1, 1, C)]
    for case, b, gc, c in cases:
        x = imgs[:b].to(dev)
        guide = gray_guide(x) if gc == 1 else x
        p = soft_maps(b, c, 321, 481).to(dev)
        row(case, 'ours', bench(lambda: guided_filter(guide, p, R, eps), reps, sync), b)
        row(case, 'kornia (reflect, separable)', bench(lambda: guided_blur(guide, p, 2 * R + 1, eps, separable=True), reps, sync), b)
        if c <= 8:   # kornia's default 2-d box kernel: too slow to be worth timing on 100 channels
            row(case, 'kornia (reflect, 2-d box)', bench(lambda: guided_blur(guide, p, 2 * R + 1, eps), reps, sync), b)
        if has_ximgproc:
            g_np = [np.ascontiguousarray(guide[i].permute(1, 2, 0).cpu().numpy()) for i in range(b)]
            p_np = [[np.ascontiguousarray(p[i, k].cpu().numpy()) for k in range(c)] for i in range(b)]
            def cv_run():
                for i in range(b):
                    f = cv2.ximgproc.createGuidedFilter(g_np[i], R, eps)
                    for k in range(c): f.filter(p_np[i][k])
            row(case, 'OpenCV ximgproc', bench(cv_run, reps), b)
            if case.startswith('gray guide, C=1, B=1'):   # same formula inside: check the eps convention once
                d = np.abs(cv2.ximgproc.guidedFilter(g_np[0], p_np[0][0], R, eps) - guided_filter(guide[:1].cpu(), p[:1, :1].cpu(), R, eps)[0, 0].numpy())
                print(f'OpenCV vs ours: interior (>= 2r from the border) max |diff| {d[2 * R:-2 * R, 2 * R:-2 * R].max():.1e}, border max {d.max():.1e}')

    x = imgs[:1].to(dev)
    for c, (h, w) in ((C, (107, 160)), (1, (20, 30))):
        low = soft_maps(1, c, h, w).to(dev)
        case = f'fast guided upsample {h}x{w} -> 321x481, C={c}'
        row(case, 'ours (gray guide)', bench(lambda: fast_guided_upsample(gray_guide(x), low, R, eps), reps, sync), 1)
        row(case, 'bilinear upsample only', bench(lambda: F.interpolate(low, size=(321, 481), mode='bilinear', align_corners=False), reps, sync), 1)
        if c > 1:
            row(case, 'bilinear + full-res guided filter', bench(lambda: guided_filter(gray_guide(x), F.interpolate(low, size=(321, 481), mode='bilinear', align_corners=False), R, eps), reps, sync), 1)

    img_np = imgs[0].permute(1, 2, 0).numpy()
    target = soft_maps(1, 1, 321, 481)[0, 0].numpy()
    breps = max(1, reps // 2)
    row('bilateral solver, 481x321, C=1', 'grid construction', bench(lambda: BilateralGrid(img_np), breps), 1)
    row('bilateral solver, 481x321, C=1', 'bilateral_solve (grid + bistochastize + 25 CG)', bench(lambda: bilateral_solve(img_np, target), breps), 1)

    print()
    print(f'| case | method | ms / image | ratio to first row of the case |')
    print('|---|---|---:|---:|')
    first = {}
    for case, name, ms in rows:
        first.setdefault(case, ms)
        print(f'| {case} | {name} | {ms:.1f} | {ms / first[case]:.2f} |')


if __name__ == '__main__':
    main()
