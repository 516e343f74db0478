"""Choose the DINOv2 k-means guidance on BSDS500 val (never test): feature (final tokens or last-block keys) x input size x k.

    python experiments/dinov2_val.py [--n 10] [--root ../shared/data] [--out results/tuning]

Each setting's guidance alone is scored with the BSDS protocol (All / Fine / Coarse / Mean); also Felzenszwalb alone and the
k-means maps split by Felzenszwalb's regions (their intersection), for reference. Writes --out/val_dinov2_grid.{csv,md,json}."""
import argparse, os, time
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1'); os.environ.setdefault('OMP_NUM_THREADS', '1')
from pathlib import Path
import numpy as np, torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=os.environ.get('DYNAGUIDE_DATA', str(Path(__file__).resolve().parents[2] / 'shared' / 'data')))
    ap.add_argument('--n', type=int, default=10); ap.add_argument('--out', default='results/tuning')
    ap.add_argument('--sizes', default='448,644'); ap.add_argument('--ks', default='5,8,12,20')
    a = ap.parse_args()
    torch.set_num_threads(1)
    from skimage.segmentation import felzenszwalb
    from dynaguide.core import load_image, save_table
    from dynaguide.data import BSDS500
    from dynaguide.guidance import relabel_consecutive
    from dynaguide.guidance_models import dinov2_patch_features, cosine_kmeans_labels
    from dynaguide.metrics import score_bsds, reduce_bsds
    ds = BSDS500(a.root, 'val'); items = [ds[i] for i in range(min(a.n, len(ds)))]
    imgs = [load_image(it.image_path) for it in items]
    score = lambda preds: reduce_bsds([score_bsds(p, it.segmentations, it.id) for p, it in zip(preds, items)])
    fz = [felzenszwalb((im * 255).round().astype(np.uint8), scale=300, sigma=0.8, min_size=50) for im in imgs]
    rows = [dict(setting='felzenszwalb alone', **{k: v for k, v in score(fz).items() if k in ('all', 'fine', 'coarse', 'mean')})]
    for size in map(int, a.sizes.split(',')):
        for feature in ('tokens', 'keys'):
            t = time.perf_counter(); F = [dinov2_patch_features(im, size, feature) for im in imgs]; sec = (time.perf_counter() - t) / len(imgs)
            for k in map(int, a.ks.split(',')):
                P = [cosine_kmeans_labels(f, k, im.shape[:2]) for f, im in zip(F, imgs)]
                m = score(P)
                rows.append(dict(setting=f'{feature} size {size} k {k}', **{c: m[c] for c in ('all', 'fine', 'coarse', 'mean')}, s_per_image=sec))
                S = score([relabel_consecutive(p * 100000 + f) for p, f in zip(P, fz)])
                rows.append(dict(setting=f'{feature} size {size} k {k}, split by felzenszwalb', **{c: S[c] for c in ('all', 'fine', 'coarse', 'mean')}))
                print(f"{rows[-2]['setting']:28s} mean {m['mean']:.3f}   split by felzenszwalb {S['mean']:.3f}", flush=True)
    save_table(rows, Path(a.out) / 'val_dinov2_grid', params=vars(a), title=f'DINOv2 k-means guidance alone, BSDS500 val, first {len(items)} images')


if __name__ == '__main__':
    main()
