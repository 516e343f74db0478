"""Tune the Sempart-style head on a held-out part of DUTS-TR (never ECSSD or DUTS-TE).

    python experiments/sempart_val.py --lr 1e-4 --lr 1e-3 --steps 300 [--crop] [--seed 0] [--n-train 800] [--n-val 100]
    python experiments/sempart_val.py --backbone dinov2_vits14 --feature keys-nobias --lr 1e-3 --steps 1000 --eval-epoch 3 --eval-epoch 5

Training images: `--n-train` evenly spaced DUTS-TR images; validation: `--n-val` evenly spaced images from the remaining ones.
Training never opens a mask. Validation reports two numbers per run: the unsupervised Sempart loss on the held-out images
(what an unlabelled user can compute) and the IoU / maxF against the held-out DUTS-TR masks (used for choosing settings only).
Checkpoints go to --out/cache/<run>/, so a rerun reuses finished runs; --eval-epoch also scores the checkpoints of those
epochs (one run gives the curve). Held-out features go through the feature cache too (float16, like the training
features), so reruns of the older EfficientNet runs can differ from their tables in the fourth decimal. --backbone
dinov2_vits14 takes --feature keys | keys-nobias | tokens (see `dynaguide.object_discovery.dinov2_readouts`). Extra train_sempart
settings go through --set (e.g. --set crop_views=1). Writes --out/sempart_val_<tag>.{csv,md,json}."""
import argparse, ast, sys, time
from pathlib import Path
import numpy as np, torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dynaguide.backbones import load_backbone, FeatureCache, cached_features
from dynaguide.core import CHECKOUT_DATA, data_root, save_table
from dynaguide.data import saliency_dataset
from dynaguide.metrics import score_saliency, reduce_saliency
from dynaguide.cache import settings_key
from dynaguide.object_discovery import tokencut_saliency, refine_saliency, dinov2_readouts, DINOV2_READOUTS
from dynaguide.saliency_head import train_kwargs, train_sempart, predict_saliency, sempart_losses, duts_tr_images, _square, load_sempart

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument('--lr', type=float, action='append', required=True)
ap.add_argument('--steps', type=int, default=300, help='optimiser steps per run (whole epochs, rounded up)')
ap.add_argument('--crop', action='store_true')
ap.add_argument('--seed', type=int, action='append')
ap.add_argument('--n-train', type=int, default=800)
ap.add_argument('--n-val', type=int, default=100)
ap.add_argument('--set', action='append', default=[], help='extra train_sempart setting key=value (python literal)')
ap.add_argument('--tokencut', action='store_true', help='also score TokenCut on the held-out images')
ap.add_argument('--tag', default='')
ap.add_argument('--backbone', default='effnet_lite0', choices=('effnet_lite0', 'dinov2_vits14'))
ap.add_argument('--feature', default='keys-nobias', choices=DINOV2_READOUTS, help='DINOv2 readout (ignored for effnet_lite0)')
ap.add_argument('--eval-epoch', type=int, action='append', default=[], help='also score the checkpoint of this epoch')
ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
ap.add_argument('--out', default=str(Path(__file__).resolve().parents[1] / 'results' / 'tuning'))
a = ap.parse_args()
a.root = str(data_root(a.root, fallback=CHECKOUT_DATA))
torch.set_num_threads(1)
extra = {k: ast.literal_eval(v) for k, v in (s.split('=', 1) for s in a.set)}

train_paths = duts_tr_images(a.root, a.n_train)          # the same images the paper notebook trains on
ds = saliency_dataset('duts-tr', a.root)
used = {p.stem for p in train_paths}
rest = [k for k in ds.ids if k not in used]
val = [ds[rest[int(i)]] for i in np.linspace(0, len(rest) - 1, a.n_val).round()]
val_images = [it.image() for it in val]                   # read once, used by every run
bb = load_backbone(a.backbone, device='cpu', **({'feature': 'keys'} if a.backbone == 'dinov2_vits14' else {}))
if a.backbone == 'dinov2_vits14': bb = dinov2_readouts(bb)[a.feature]
out = Path(a.out); fc = FeatureCache(out / 'cache' / 'features')
print(f'{len(train_paths)} training, {len(val)} held-out DUTS-TR images; backbone {bb.tag}', flush=True)

def val_scores(pred_fn):
    sc = {p: [] for p in ('none', 'gf')}
    for it, img in zip(val, val_images):
        soft = pred_fn(img, it)
        for p in sc: sc[p].append(score_saliency(refine_saliency(img, soft, p), it.mask, it.id))
    return {p: reduce_saliency(v) for p, v in sc.items()}

rows = []
if a.tokencut:
    r = val_scores(lambda img, it: tokencut_saliency(img, bb))
    rows.append(dict(run='TokenCut', val_loss=None, **{f'{p} {m}': r[p][m] for p in r for m in ('iou', 'maxF', 'acc')}))
    print(rows[-1], flush=True)
for seed in a.seed or [0]:
    for lr in a.lr:
        base = train_kwargs('cpu', crop=a.crop, seed=seed, lr=lr, **extra)
        epochs = -(-a.steps * base['batch_size'] // len(train_paths))
        kw = dict(base, epochs=epochs)
        name = f'lr{lr:g}_s{seed}_{"crop" if a.crop else "nocrop"}_{settings_key(dict(kw, n=len(train_paths), tag=bb.tag))}'
        t0 = time.time()
        run = train_sempart(train_paths, bb, out / 'cache' / name, feature_cache=fc, progress=False, **kw)
        secs = time.time() - t0
        for e in sorted(set(a.eval_epoch) | {epochs}):
            if e > epochs: continue
            r_e = run if e == epochs else load_sempart(out / 'cache' / name / f'epoch_{e:03d}.pt')
            with torch.no_grad():   # held-out unsupervised loss at the training size, centre squares
                vl = []
                for it, img in zip(val, val_images):
                    x = _square(img, kw['size'])[None]
                    f = cached_features(bb, x[0].permute(1, 2, 0).numpy(), None, fc, f'val-{it.id}-sq').feats.float()
                    vl.append(float(sempart_losses(r_e.head(f, x), f, x)['total']))
            r = val_scores(lambda img, it: predict_saliency(r_e.head, bb, img, 'none', cache=fc, image_id=f'val-{it.id}'))
            steps = sum(1 for x_ in run.log if x_['epoch'] <= e)
            rows.append(dict(run=name, backbone=bb.tag, lr=lr, seed=seed, crop=a.crop, steps=steps, epochs=e, train_s=round(secs * e / epochs),
                             last_train_loss=float(np.mean([x_['loss'] for x_ in run.log[:steps][-20:]])), val_loss=float(np.mean(vl)),
                             **{f'{p} {m}': r[p][m] for p in r for m in ('iou', 'maxF', 'acc')}, **extra))
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
tag = a.tag or f'{"crop" if a.crop else "nocrop"}_{a.steps}'
save_table(rows, out / f'sempart_val_{tag}', params=vars(a),
           title=f'Sempart-style head on held-out DUTS-TR ({len(val)} images; masks used for scoring only), {bb.tag}, cpu profile')
