"""What bfloat16 does to the per-image loop's result: BSDS500 val, fp32 against bf16, each with two seeds.

    python experiments/precision_val.py [--n 20] [--guidance dinov2-kmeans] [--seeds 0 1] [--precisions fp32 bf16]
                                        [--root ../shared/data] [--out results/tuning]

The settings are the BSD500 table's `cpu` rows (the `cpu` profile, Hungarian alignment, beta 60, guided upsampling, one thread).
The guidance is computed once per image and handed to every run as a label map, so the runs differ only in precision and seed.
Per-image results are cached under --out/cache/precision/ (a rerun computes only what is missing). The table gives, per
(precision, seed): All/Fine/Coarse/Mean mIoU, median segments, median iterations and median loop seconds; and the two
differences that matter: the seed-to-seed spread in fp32 (seed 0 against seed 1) and the precision effect at the same seed (bf16
against fp32), both as the difference of Mean mIoU and as the mean absolute per-image difference. Writes
--out/precision_val_<guidance>.{csv,md,json}. Val images only: tuning on test is refused."""
import argparse, os, sys
from pathlib import Path
import numpy as np

SETTINGS = dict(align='hungarian', beta=60.0, threads=1)   # on top of the `cpu` profile: the BSD500 table's DynaGuide rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
    ap.add_argument('--n', type=int, default=20)
    ap.add_argument('--split', default='val')
    ap.add_argument('--guidance', default='dinov2-kmeans')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    ap.add_argument('--precisions', nargs='+', default=['fp32', 'bf16'])
    ap.add_argument('--out', default='results/tuning')
    a = ap.parse_args()
    if a.split == 'test': sys.exit('tuning on the test split is not allowed')
    for v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(v, '1')
    import torch
    from dynaguide.data import BSDS500
    from dynaguide.metrics import score_bsds, reduce_bsds
    from dynaguide.guidance import compute_guidance
    from dynaguide.segment import segment, cpu_bf16_speedup
    from dynaguide.core import CHECKOUT_DATA, data_root, save_table, versions
    torch.set_num_threads(1)
    a.root = str(data_root(a.root, fallback=CHECKOUT_DATA))
    ds = BSDS500(a.root, a.split)
    items = [ds[i] for i in range(min(a.n, len(ds)))]
    cache = Path(a.out) / 'cache' / 'precision'
    gdir = cache / f'guidance-{a.guidance}'; gdir.mkdir(parents=True, exist_ok=True)
    guides = {}
    for it in items:
        f = gdir / f'{it.id}.npz'
        if not f.exists(): np.savez_compressed(f, labels=compute_guidance(it.image_path, a.guidance).labels)
        guides[it.id] = np.load(f)['labels']
    per = {}   # (precision, seed) -> list of per-image dicts
    for prec in a.precisions:
        for seed in a.seeds:
            d = cache / f'{a.guidance}-{prec}-s{seed}'; d.mkdir(parents=True, exist_ok=True)
            recs = []
            for it in items:
                f = d / f'{it.id}.npz'
                if not f.exists():
                    r = segment(it.image_path, guidance=guides[it.id], profile='cpu', precision=prec, seed=seed, **SETTINGS)
                    np.savez_compressed(f, labels=r.labels, seconds=r.seconds, n_iter=r.n_iter)
                z = np.load(f)
                s = score_bsds(z['labels'], it.segmentations, it.id)
                recs.append(dict(id=it.id, score=s, mean=float(s.row()['mean']),
                                 segments=int(z['labels'].max()) + 1, seconds=float(z['seconds']), n_iter=int(z['n_iter'])))
            per[prec, seed] = recs
            m = reduce_bsds([r['score'] for r in recs])
            print(f"{prec} seed {seed}: mean {m['mean']:.3f} (all {m['all']:.3f} fine {m['fine']:.3f} coarse {m['coarse']:.3f}), "
                  f"median {np.median([r['segments'] for r in recs]):.0f} segments, {np.median([r['seconds'] for r in recs]):.2f} s", flush=True)
    rows = []
    for (prec, seed), recs in per.items():
        m = reduce_bsds([r['score'] for r in recs])
        rows.append(dict(row=f'{prec}, seed {seed}', precision=prec, seed=seed, **{k: m[k] for k in ('all', 'fine', 'coarse', 'mean')},
                         median_segments=float(np.median([r['segments'] for r in recs])),
                         median_iter=float(np.median([r['n_iter'] for r in recs])),
                         median_s=float(np.median([r['seconds'] for r in recs])), n_images=len(recs)))
    def diff(x, y, what):
        mx = reduce_bsds([r['score'] for r in per[x]])['mean']; my = reduce_bsds([r['score'] for r in per[y]])['mean']
        pi = np.abs([p['mean'] - q['mean'] for p, q in zip(per[x], per[y])])
        sg = np.abs([p['segments'] - q['segments'] for p, q in zip(per[x], per[y])])
        return dict(row=what, mean=mx - my, mean_abs_per_image=float(pi.mean()), median_abs_segments=float(np.median(sg)), n_images=len(pi))
    base = a.precisions[0]
    for i in range(1, len(a.seeds)):
        rows.append(diff((base, a.seeds[i]), (base, a.seeds[0]), f'seed spread: {base} seed {a.seeds[i]} - seed {a.seeds[0]}'))
    for prec in a.precisions[1:]:
        for seed in a.seeds: rows.append(diff((prec, seed), (base, seed), f'precision effect: {prec} - {base}, seed {seed}'))
    sp = cpu_bf16_speedup(64, 1)
    for r in rows[-len(a.seeds) * (len(a.precisions) - 1) - len(a.seeds) + 1:]: print(r)
    save_table(rows, Path(a.out) / f'precision_val_{a.guidance}', params=dict(vars(a), settings=SETTINGS, profile='cpu',
               bf16_conv_speedup_p64_1thread=sp, versions=versions()),
               title=f'BSDS500 {a.split}, first {len(items)} images: fp32 against bf16 ({a.guidance} guidance, cpu profile, beta 60); '
                     f'seconds measured with other work running')


if __name__ == '__main__':
    main()
