"""Tune the per-image loop on BSDS500 val (never test): score guidance alone and DynaGuide variants with the BSDS protocol.

    python experiments/tune_val.py --n 10 --variant base --variant hungarian ... [--root ../shared/data] [--out results/tuning]

A variant is a name from VARIANTS (settings on top of the `dynaguide` preset). Per-image results are cached by
`dynaguide.cache.run_cached` in --out/cache/<settings hash>/<id>.npz (the settings in settings.json beside them), so a rerun
only computes what is missing. Prints one line per variant: All/Fine/Coarse/Mean and
median seconds per image, and writes --out/val_<tag>.{csv,md,json}."""
import argparse, time, sys
from functools import partial
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
    # full resolution vs guided refinement (a) vs reduced resolution with guided upsampling (b)
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

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
    ap.add_argument('--n', type=int, default=10); ap.add_argument('--split', default='val')
    ap.add_argument('--guidance', default='felzenszwalb')
    ap.add_argument('--variant', action='append', default=[])
    ap.add_argument('--set', action='append', default=[], help='NAME=VALUE applied to every variant')
    ap.add_argument('--gset', action='append', default=[], help='NAME=VALUE: a parameter of the guidance source (e.g. k=12)')
    ap.add_argument('--also-refine', action='store_true', help='also score variant+refine: guided filter on the same run\'s response')
    ap.add_argument('--out', default='results/tuning'); ap.add_argument('--tag', default='')
    return ap.parse_args()


def run_variant(it, v: str, a, common: dict, gparams: dict) -> dict:
    "Labels (`pred`) and seconds of variant `v` on one item; with --also-refine also `refined` and `refined_seconds`."
    from dynaguide.guidance import compute_guidance, relabel_consecutive
    from dynaguide.segment import segment
    if VARIANTS[v] is None:
        t = time.perf_counter(); lab = compute_guidance(it.image_path, a.guidance, **gparams).labels
        return dict(pred=lab, seconds=time.perf_counter() - t)
    ov = {**common, **VARIANTS[v]}; preset = ov.pop('preset', 'dynaguide')
    g = a.guidance if preset == 'dynaguide' else None
    if g is not None and gparams: g = compute_guidance(it.image_path, g, **gparams).labels   # a label map: segment takes it as given
    r = segment(it.image_path, guidance=g, preset=preset, **ov)
    out = dict(pred=r.labels, seconds=r.seconds + r.guidance_seconds)
    if a.also_refine and ov.get('refine', 'none') == 'none':   # (a) from the same run: guided filter on the full-size response
        from dynaguide.filters import guided_filter, gray_guide
        from dynaguide.core import image_to_tensor
        t = time.perf_counter()
        q = guided_filter(gray_guide(image_to_tensor(it.image_path, 'cpu')), r.response[None])
        out.update(refined=relabel_consecutive(q[0].argmax(0).numpy()), refined_seconds=out['seconds'] + time.perf_counter() - t)
    return out


def main():
    a = parse_args()
    if a.split == 'test': sys.exit('tuning on the test split is not allowed')
    from dynaguide.data import BSDS500
    from dynaguide.metrics import BSDS_COLUMNS, score_bsds, reduce_bsds
    from dynaguide.cli import parse_settings
    from dynaguide.core import CHECKOUT_DATA, data_root, save_table
    from dynaguide.cache import run_cached
    a.root = str(data_root(a.root, fallback=CHECKOUT_DATA))
    ds = BSDS500(a.root, a.split)
    items = [ds[i] for i in range(min(a.n, len(ds)))]
    common = {**BASE, **parse_settings(a.set)}
    import yaml
    gparams = {k: yaml.safe_load(v) for k, v in (g.split('=', 1) for g in a.gset)}   # guidance parameters (YAML literals)
    rows, results = [], {}
    variants = []
    for v in a.variant or ['guidance', 'base']: variants += [v] + ([f'{v}+refine'] if a.also_refine and VARIANTS[v] is not None else [])
    for v in variants:
        base = v[:-7] if v.endswith('+refine') else None
        if base is not None and VARIANTS.get(v) is None: VARIANTS[v] = {**VARIANTS[base], 'refine': 'guided'}
        if base in results and all('refined' in r for r in results[base]):   # refined from the base variant's own runs
            res = [dict(pred=r['refined'], seconds=r['refined_seconds']) for r in results[base]]
        else:
            settings = None if VARIANTS[v] is None else {**common, **VARIANTS[v]}
            key = dict(experiment='tune_val', guidance=a.guidance, guidance_params=gparams, variant=v, settings=settings)
            if a.also_refine and settings is not None and settings.get('refine', 'none') == 'none': key['also_refine'] = True
            res = run_cached(items, partial(run_variant, v=v, a=a, common=common, gparams=gparams), Path(a.out) / 'cache', key,
                             progress=False, desc=v)
        results[v] = res
        scores = [score_bsds(r['pred'], it.segmentations, it.id) for r, it in zip(res, items)]
        secs = [float(r['seconds']) for r in res]
        m = reduce_bsds(scores)
        row = dict(variant=v, guidance=a.guidance + ''.join(f' {g}' for g in a.gset), n=len(items), **{k: m[k] for k in BSDS_COLUMNS},
                   median_s=float(np.median(secs)), settings=str({**common, **(VARIANTS[v] or {})}) if VARIANTS[v] is not None else 'full res')
        rows.append(row)
        print(f"{v:22s} all {m['all']:.3f} fine {m['fine']:.3f} coarse {m['coarse']:.3f} mean {m['mean']:.3f}  cov {m['covering']:.3f}  {np.median(secs):6.1f} s/img", flush=True)
    save_table(rows, Path(a.out) / f'val_{a.guidance}{a.tag}', params=dict(vars(a), base=common), title=f'BSDS500 {a.split} tuning, first {len(items)} images')

if __name__ == '__main__':
    main()
