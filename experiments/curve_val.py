"""Score DynaGuide after 1, 5, 10, 20, 40 and 80 iterations on the first BSDS500 val images (never test), to see whether stopping
earlier or later would help, and how K and the number of connected segments evolve against the guidance's.

    python experiments/curve_val.py lab-kmeans 60 [--n 4]

Runs are deterministic (same seed), so a run capped at N iterations is the first N iterations of a longer one."""
import argparse
from dynaguide.core import CHECKOUT_DATA, data_root
from dynaguide.data import BSDS500
from dynaguide.metrics import score_bsds, reduce_bsds, relabel_connected
from dynaguide.segment import segment
from dynaguide.guidance import compute_guidance

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument('guidance'); ap.add_argument('beta', type=float); ap.add_argument('--n', type=int, default=4)
ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
a = ap.parse_args()
ds = BSDS500(data_root(a.root, fallback=CHECKOUT_DATA), 'val'); items = [ds[i] for i in range(a.n)]
Ns = [1, 5, 10, 20, 40, 80]
sc, K, comps, gs, gcomps, glabels = {n: [] for n in Ns}, {n: [] for n in Ns}, {n: [] for n in Ns}, [], [], []
for it in items:
    G = compute_guidance(it.image_path, a.guidance)
    gs.append(score_bsds(G.labels, it.segmentations, it.id)); gcomps.append(int(relabel_connected(G.labels).max() + 1)); glabels.append(G.n_segments)
    for n in Ns:
        r = segment(it.image_path, guidance=G, profile='cpu', max_iter=n, patience=None, beta=a.beta, threads=1)
        sc[n].append(score_bsds(r.labels, it.segmentations, it.id)); K[n].append(r.trace[-1]['K'])
        comps[n].append(int(relabel_connected(r.labels).max() + 1))
print(f'{a.guidance}, beta {a.beta:g}, cpu profile without patience, first {a.n} val images')
print(f'  guidance alone: Mean {reduce_bsds(gs)["mean"]:.3f}, labels {glabels}, connected segments {gcomps}')
for n in Ns: print(f'  iteration {n:3d}: Mean {reduce_bsds(sc[n])["mean"]:.3f}, K {K[n]}, connected segments {comps[n]}')
