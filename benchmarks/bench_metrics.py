"""Time the BSDS500 protocol: score every test image against every annotator map.

Predictions are made first and not timed (Felzenszwalb scale 300, sigma 0.8, min size 50 by default, which also checks the
scores against the numbers measured here on the 200 test images: All / Fine / Coarse / Mean .335 / .300 / .380 / .338). A plain reference implementation (one
boolean mask per segment, IoU by loops) runs on a few images in the same process for the speed ratio and agreement.

    .venv/bin/python benchmarks/bench_metrics.py [--root DATA] [--method felzenszwalb|slic] [--n 200] [--ref 3]
"""
import argparse, time

import numpy as np
from scipy import ndimage

from dynaguide import metrics as M
from dynaguide.core import CHECKOUT_DATA, data_root
from dynaguide.data import BSDS500

FELZ_TEST = dict(all=.335, fine=.300, coarse=.380, mean=.338)


def predict(img: np.ndarray, method: str) -> np.ndarray:
    from skimage.segmentation import felzenszwalb, slic
    if method == 'felzenszwalb': return felzenszwalb((img * 255).round().astype(np.uint8), scale=300, sigma=0.8, min_size=50)
    return slic(img, n_segments=100, compactness=10, start_label=0)


def reference_sums(pred: np.ndarray, gts) -> list:
    "Sum of best IoUs per annotator map by explicit per-segment masks (8-connected components with scipy)."
    comps = []
    for v in np.unique(pred):
        lab, n = ndimage.label(pred == v, structure=np.ones((3, 3)))
        comps += [lab == i for i in range(1, n + 1)]
    out = []
    for g in gts:
        s = 0.0
        for k in np.unique(g):
            G = g == k
            s += max((G & P).sum() / (G | P).sum() for P in comps)
        out.append(s)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
    ap.add_argument('--method', default='felzenszwalb', choices=['felzenszwalb', 'slic'])
    ap.add_argument('--n', type=int, default=200, help='number of test images')
    ap.add_argument('--ref', type=int, default=3, help='images for the reference implementation')
    a = ap.parse_args()

    ds = BSDS500(data_root(a.root, fallback=CHECKOUT_DATA), 'test')
    t = time.perf_counter(); items = [ds[i] for i in range(min(a.n, len(ds)))]; t_load = time.perf_counter() - t
    n_maps = sum(len(it.segmentations) for it in items)
    t = time.perf_counter(); preds = [predict(it.image(), a.method) for it in items]; t_pred = time.perf_counter() - t
    print(f'{len(items)} BSDS500 test images, {n_maps} annotator maps; GT read in {t_load:.2f} s; '
          f'{a.method} predictions in {t_pred:.1f} s (not timed below)')

    M.score_bsds(preds[0], items[0].segmentations)                      # warm-up (imports)
    t = time.perf_counter()
    scores = [M.score_bsds(p, it.segmentations, it.id) for p, it in zip(preds, items)]
    res = M.reduce_bsds(scores)
    t_score = time.perf_counter() - t
    print(f'score + reduce (mIoU, covering, PRI, VoI vs every annotator): {t_score:.2f} s total, '
          f'{1000 * t_score / len(items):.1f} ms per image, {1000 * t_score / n_maps:.2f} ms per annotator map')

    k = min(a.ref, len(items))
    t = time.perf_counter(); ref = [reference_sums(p, it.segmentations) for p, it in zip(preds[:k], items[:k])]; t_ref = time.perf_counter() - t
    t = time.perf_counter(); fast = [M.score_bsds(p, it.segmentations).iou_sums for p, it in zip(preds[:k], items[:k])]; t_fast = time.perf_counter() - t
    diff = max(abs(x - y) for r, f in zip(ref, fast) for x, y in zip(r, f))
    print(f'reference (per-segment masks) on {k} images: {1000 * t_ref / k:.0f} ms per image vs {1000 * t_fast / k:.1f} ms '
          f'(x{t_ref / t_fast:.0f} faster, max |difference of IoU sums| {diff:.1e})')

    print('scores: ' + ', '.join(f'{n} {res[n]:.4f}' for n in M.BSDS_COLUMNS))
    if a.method == 'felzenszwalb' and len(items) == 200:
        print('Felzenszwalb (measured): ' + ', '.join(f'{n} {v:.3f} (diff {res[n] - v:+.4f})' for n, v in FELZ_TEST.items()))


if __name__ == '__main__':
    main()
