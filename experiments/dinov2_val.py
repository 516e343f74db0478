"""Choose the DINOv2 k-means guidance on BSDS500 val (never test): feature (final tokens or last-block keys) x input size x k.

    python experiments/dinov2_val.py [--n 10] [--root ../shared/data] [--out results/tuning]

Each setting's guidance alone is scored with the BSDS protocol (All / Fine / Coarse / Mean); also Felzenszwalb alone and the
k-means maps split by Felzenszwalb's regions (their intersection), for reference. Writes --out/val_dinov2_grid.{csv,md,json}."""
import time
from pathlib import Path
from _common import val_parser, val_images   # sets one BLAS thread before numpy loads
import numpy as np


def main():
    ap = val_parser(__doc__)
    ap.add_argument('--sizes', default='448,644'); ap.add_argument('--ks', default='5,8,12,20')
    a = ap.parse_args()
    items, imgs = val_images(a)
    from skimage.segmentation import felzenszwalb
    from dynaguide.core import save_table
    from dynaguide.guidance import relabel_consecutive
    from dynaguide.guidance_pretrained import dinov2_patch_features, cosine_kmeans_labels
    from dynaguide.metrics import BSDS_COLUMNS, score_bsds, reduce_bsds
    score = lambda preds: reduce_bsds([score_bsds(p, it.segmentations, it.id) for p, it in zip(preds, items)])
    fz = [felzenszwalb((im * 255).round().astype(np.uint8), scale=300, sigma=0.8, min_size=50) for im in imgs]
    rows = [dict(setting='felzenszwalb alone', **{k: v for k, v in score(fz).items() if k in BSDS_COLUMNS[:4]})]
    for size in map(int, a.sizes.split(',')):
        for feature in ('tokens', 'keys'):
            t = time.perf_counter(); F = [dinov2_patch_features(im, size, feature) for im in imgs]; sec = (time.perf_counter() - t) / len(imgs)
            for k in map(int, a.ks.split(',')):
                P = [cosine_kmeans_labels(f, k, im.shape[:2]) for f, im in zip(F, imgs)]
                m = score(P)
                rows.append(dict(setting=f'{feature} size {size} k {k}', **{c: m[c] for c in BSDS_COLUMNS[:4]}, s_per_image=sec))
                S = score([relabel_consecutive(p * 100000 + f) for p, f in zip(P, fz)])
                rows.append(dict(setting=f'{feature} size {size} k {k}, split by felzenszwalb', **{c: S[c] for c in BSDS_COLUMNS[:4]}))
                print(f"{rows[-2]['setting']:28s} mean {m['mean']:.3f}   split by felzenszwalb {S['mean']:.3f}", flush=True)
    save_table(rows, Path(a.out) / 'val_dinov2_grid', params=vars(a), title=f'DINOv2 k-means guidance alone, BSDS500 val, first {len(items)} images')


if __name__ == '__main__':
    main()
