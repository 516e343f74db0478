"""Tune the per-image loop on BSDS500 val (never test): score guidance alone and DynaGuide variants with the BSDS protocol.

    python experiments/tune_val.py --n 10 --variant base --variant hungarian ... [--root ../shared/data] [--out results/tuning]

A variant is a name from VARIANTS (settings on top of the `dynaguide` preset). Per-image results are cached as .npz in
--out/cache/<variant>/<id>.npz, so a rerun only computes what is missing. Prints one line per variant: All/Fine/Coarse/Mean and
median seconds per image, and writes --out/val_<tag>.{csv,md,json}."""
import argparse, os, time, sys
from pathlib import Path
import numpy as np, torch

BASE = dict(max_side=160, p=100, max_iter=150, patience=30, threads=1)
VARIANTS = {
    'guidance': None,  # the guidance alone, at full resolution
    'base': {},
    'hungarian': dict(align='hungarian'),
    'reference': dict(align='reference'),
    'hungarian-gw2': dict(align='hungarian', guide_weight=2.0),
    'hungarian-nodiag': dict(align='hungarian', diagonals=False),
    'hungarian-beta30': dict(align='hungarian', beta=30.0),
    'hungarian-beta60': dict(align='hungarian', beta=60.0),
    'hungarian-beta200': dict(align='hungarian', beta=200.0),
    'majority-beta60': dict(align='majority', beta=60.0),
    'reference-beta60': dict(align='reference', beta=60.0),
    'hungarian-beta60-lr01': dict(align='hungarian', beta=60.0, lr=0.01),
    'hungarian-240': dict(align='hungarian', max_side=240),
    'hungarian-gf': dict(align='hungarian', refine='guided'),
    # issue 4: full resolution vs guided refinement (a) vs reduced resolution with guided upsampling (b)
    'res-full': dict(max_side=None),
    'res-full-refine': dict(max_side=None, refine='guided'),
    'res-320-bilinear': dict(max_side=320),
    'res-320-guided': dict(max_side=320, upsample='guided'),
    'res-240-bilinear': dict(max_side=240),
    'res-240-guided': dict(max_side=240, upsample='guided'),
    'res-160-bilinear': dict(max_side=160),
    'res-160-guided': dict(max_side=160, upsample='guided'),
    'res-160-guided-refine': dict(max_side=160, upsample='guided', refine='guided'),
    'kanezaki': dict(preset='kanezaki'),
    'dynaseg-fsf': dict(preset='dynaseg-fsf'),
}

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=os.environ.get('DYNAGUIDE_DATA', str(Path(__file__).resolve().parents[2] / 'shared' / 'data')))
    ap.add_argument('--n', type=int, default=10); ap.add_argument('--split', default='val')
    ap.add_argument('--guidance', default='felzenszwalb')
    ap.add_argument('--variant', action='append', default=[])
    ap.add_argument('--set', action='append', default=[], help='NAME=VALUE applied to every variant')
    ap.add_argument('--gset', action='append', default=[], help='NAME=VALUE: a parameter of the guidance source (e.g. k=12)')
    ap.add_argument('--also-refine', action='store_true', help='also score variant+refine: guided filter on the same run\'s response')
    ap.add_argument('--out', default='results/tuning'); ap.add_argument('--tag', default='')
    a = ap.parse_args()
    if a.split == 'test': sys.exit('tuning on the test split is not allowed')
    from dynaguide.data import BSDS500
    from dynaguide.metrics import score_bsds, reduce_bsds
    from dynaguide.guidance import compute_guidance
    from dynaguide.segment import segment
    from dynaguide.cli import parse_settings
    from dynaguide.core import save_table
    from dynaguide.guidance import relabel_consecutive
    ds = BSDS500(a.root, a.split)
    items = [ds[i] for i in range(min(a.n, len(ds)))]
    common = {**BASE, **parse_settings(a.set)}
    import yaml
    gparams = {k: yaml.safe_load(v) for k, v in (g.split('=', 1) for g in a.gset)}   # guidance parameters (YAML literals)
    rows = []
    variants = []
    for v in a.variant or ['guidance', 'base']: variants += [v] + ([f'{v}+refine'] if a.also_refine and VARIANTS[v] is not None else [])
    for v in variants:
        if v.endswith('+refine') and VARIANTS.get(v) is None: VARIANTS[v] = {**VARIANTS[v[:-7]], 'refine': 'guided'}
        cache = Path(a.out) / 'cache' / f'{a.guidance}{"".join("-" + g for g in a.gset)}-{v}-{"_".join(a.set) or "default"}'; cache.mkdir(parents=True, exist_ok=True)
        scores, secs = [], []
        for it in items:
            f = cache / f'{it.id}.npz'
            if f.exists(): z = np.load(f); lab, s = z['labels'], float(z['seconds'])
            else:
                if VARIANTS[v] is None:
                    t = time.perf_counter(); lab = compute_guidance(it.image_path, a.guidance, **gparams).labels; s = time.perf_counter() - t
                else:
                    ov = {**common, **VARIANTS[v]}; preset = ov.pop('preset', 'dynaguide')
                    g = a.guidance if preset == 'dynaguide' else None
                    if g is not None and gparams: g = compute_guidance(it.image_path, g, **gparams).labels   # a label map: segment takes it as given
                    r = segment(it.image_path, guidance=g, preset=preset, **ov); lab, s = r.labels, r.seconds + r.guidance_seconds
                    if a.also_refine and ov.get('refine', 'none') == 'none':   # (a) from the same run: guided filter on the full-size response
                        from dynaguide.filters import guided_filter, gray_guide
                        from dynaguide.core import image_to_tensor
                        t = time.perf_counter()
                        q = guided_filter(gray_guide(image_to_tensor(it.image_path, 'cpu')), r.response[None])
                        rf = cache.parent / (cache.name.replace(f'-{v}-', f'-{v}+refine-')); rf.mkdir(exist_ok=True)
                        np.savez_compressed(rf / f'{it.id}.npz', labels=relabel_consecutive(q[0].argmax(0).numpy()), seconds=s + time.perf_counter() - t)
                np.savez_compressed(f, labels=lab, seconds=s)
            scores.append(score_bsds(lab, it.segmentations, it.id)); secs.append(s)
        m = reduce_bsds(scores)
        row = dict(variant=v, guidance=a.guidance + ''.join(f' {g}' for g in a.gset), n=len(items), **{k: m[k] for k in ('all', 'fine', 'coarse', 'mean', 'covering', 'pri', 'voi')},
                   median_s=float(np.median(secs)), settings=str({**common, **(VARIANTS[v] or {})}) if VARIANTS[v] is not None else 'full res')
        rows.append(row)
        print(f"{v:22s} all {m['all']:.3f} fine {m['fine']:.3f} coarse {m['coarse']:.3f} mean {m['mean']:.3f}  cov {m['covering']:.3f}  {np.median(secs):6.1f} s/img", flush=True)
    save_table(rows, Path(a.out) / f'val_{a.guidance}{a.tag}', params=dict(vars(a), base=common), title=f'BSDS500 {a.split} tuning, first {len(items)} images')

if __name__ == '__main__':
    main()
