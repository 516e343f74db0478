"""Choose DiffSeg-on-DINOv2 settings on BSDS500 val (never test): input size x attention blocks x KL threshold, guidance alone.

    python experiments/diffseg_dinov2_val.py [--n 10] [--root ../shared/data] [--out results/tuning]

The attention maps of each (image, size, blocks) are computed once and merged at every threshold. Writes
--out/val_diffseg-dinov2_grid.{csv,md,json} (All / Fine / Coarse / Mean and the median segment count)."""
import time
from pathlib import Path
from _common import val_parser, val_images   # sets one BLAS thread before numpy loads
import numpy as np


def main():
    ap = val_parser(__doc__)
    ap.add_argument('--sizes', default='448,644'); ap.add_argument('--thresholds', default='0.3,0.5,0.7,0.9,1.1')
    ap.add_argument('--layers', default='-1;-4,-3,-2,-1', help='blocks to average, sets separated by ";" (negative: from the end)')
    ap.add_argument('--tag', default='')
    a = ap.parse_args()
    items, imgs = val_images(a)
    from dynaguide.core import save_table
    from dynaguide.diffseg import dinov2_attention_maps, diffseg
    from dynaguide.metrics import BSDS_COLUMNS, score_bsds, reduce_bsds
    rows = []
    for size in map(int, a.sizes.split(',')):
        for layers in [tuple(int(v) for v in g.split(',')) for g in a.layers.split(';')]:
            t = time.perf_counter(); M = [dinov2_attention_maps(im, size, layers) for im in imgs]; sec = (time.perf_counter() - t) / len(imgs)
            for tau in map(float, a.thresholds.split(',')):
                t = time.perf_counter()
                P = [diffseg(m, weights='equal', out_res=None, kl_threshold=tau, out_size=im.shape[:2]) for m, im in zip(M, imgs)]
                sec_m = (time.perf_counter() - t) / len(imgs)
                recs = [score_bsds(p, it.segmentations, it.id) for p, it in zip(P, items)]
                m = reduce_bsds(recs)
                rows.append(dict(size=size, layers=str(layers), kl_threshold=tau, **{c: m[c] for c in BSDS_COLUMNS[:4]},
                                 median_labels=float(np.median([len(np.unique(p)) for p in P])), median_segments=float(np.median([r.n_pred for r in recs])),
                                 s_attention=sec, s_merge=sec_m))
                print(f"size {size} layers {layers} tau {tau}: mean {m['mean']:.3f} labels {rows[-1]['median_labels']:.0f}", flush=True)
    save_table(rows, Path(a.out) / f'val_diffseg-dinov2_grid{a.tag}', params=vars(a), title=f'DiffSeg on DINOv2 attention, alone, BSDS500 val, first {len(items)} images')


if __name__ == '__main__':
    main()
