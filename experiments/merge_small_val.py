"""Does fragmentation cost the CNN? Re-score cached val label maps (from experiments/tune_val.py) after merging every 8-connected
segment smaller than A pixels into the nearest larger one, for A in 0, 20, 64, 200, 500.

    python experiments/merge_small_val.py results/tuning/cache/<settings hash> [...]

(the folders `dynaguide.cache.run_cached` fills for experiments/tune_val.py; each has its settings in settings.json)"""
import argparse
from pathlib import Path
import numpy as np
from scipy import ndimage as ndi
from dynaguide.core import CHECKOUT_DATA, data_root
from dynaguide.data import BSDS500
from dynaguide.metrics import score_bsds, reduce_bsds, relabel_connected

def merge_small(lab: np.ndarray, min_area: int) -> np.ndarray:
    "Connected segments of `lab` (H, W), those smaller than `min_area` pixels given to the nearest larger segment."
    comp = relabel_connected(lab)
    small = np.bincount(comp.ravel()) < min_area
    if not small.any() or small.all(): return comp
    idx = ndi.distance_transform_edt(small[comp], return_distances=False, return_indices=True)
    return comp[idx[0], idx[1]]

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument('folders', nargs='+')
ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
a = ap.parse_args()
ds = BSDS500(data_root(a.root, fallback=CHECKOUT_DATA), 'val')
for folder in a.folders:
    files = sorted(Path(folder).glob('*.npz'))
    for area in (0, 20, 64, 200, 500):
        sc, nseg = [], []
        for f in files:
            it = ds[f.stem]   # loads this image's ground truth only
            lab = np.load(f)['pred']
            if area: lab = merge_small(lab, area)
            nseg.append(relabel_connected(lab).max() + 1); sc.append(score_bsds(lab, it.segmentations, it.id))
        m = reduce_bsds(sc)
        print(f'{Path(folder).name[:45]:45s} min area {area:4d}: {len(files)} images, median segments {np.median(nseg):6.0f}, All {m["all"]:.3f}, Mean {m["mean"]:.3f}')
