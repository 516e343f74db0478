"""Offline guidance sources on BSDS500: seconds per image and the BSDS best-match mIoU of each source alone.

Every offline source (the scikit-image ones of `dynaguide.guidance` and the model-backed ones of `dynaguide.guidance_pretrained`)
runs on the same first N images of a BSDS500 split in one process, and its label map is scored with `dynaguide.metrics`
(BSDS protocol of Kim & Kanezaki: 8-connected components, best IoU per GT segment; All / Fine / Coarse / Mean). Time per image is the median over
the images after the first (the first call also loads the model; it is reported on its own), as wall seconds and as CPU seconds
of this process (the machine is shared, so wall time varies with load; CPU time varies less), and as a ratio to Felzenszwalb's.

    .venv/bin/python benchmarks/bench_guidance.py [--root DATA] [--split val] [--n 10] [--sources a,b,...] [--threads 2]
"""
import argparse, os, time

import numpy as np

from dynaguide import metrics as M
from dynaguide.core import CHECKOUT_DATA, data_root
from dynaguide.data import BSDS500
from dynaguide.guidance import GUIDANCE, compute_guidance, list_guidance

SOURCES = ['felzenszwalb', 'slic', 'lab-kmeans', 'effnet-kmeans', 'effnet-lab-kmeans', 'u2netp', 'u2netp+felzenszwalb', 'u2netp+lab-kmeans']


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
    ap.add_argument('--split', default='val')
    ap.add_argument('--n', type=int, default=10)
    ap.add_argument('--sources', default=','.join(SOURCES))
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    ds = BSDS500(data_root(a.root, fallback=CHECKOUT_DATA), a.split)
    items = [ds[i] for i in range(min(a.n, len(ds)))]
    imgs = [it.image() for it in items]
    names = a.sources.split(',')
    known = list_guidance()
    for n in names:
        if n not in known: raise SystemExit(f'unknown source {n!r}; registered: {known}')
    print(f'BSDS500 {a.split}, first {len(items)} images ({", ".join(it.id for it in items)}); torch threads {a.threads}; '
          f'load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs')
    rows = []
    for name in names:
        wall, cpu, scores, nseg = [], [], [], []
        for img, it in zip(imgs, items):
            t, c = time.perf_counter(), time.process_time()
            g = compute_guidance(img, name)
            wall.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
            scores.append(M.score_bsds(g.labels, it.segmentations, id=it.id)); nseg.append(g.n_segments)
        r = M.reduce_bsds(scores)
        rows.append(dict(source=name, wall=float(np.median(wall[1:] or wall)), cpu=float(np.median(cpu[1:] or cpu)), first=wall[0],
                         segments=float(np.median(nseg)), n_pred=float(np.median([s.n_pred for s in scores])),
                         **{k: r[k] for k in M.BSDS_COLUMNS}, provenance=GUIDANCE[name].provenance))
        x = rows[-1]
        print(f'  {name:22s} {x["wall"]:6.2f} s/img  mean {x["mean"]:.3f}', flush=True)
    ref = next((r for r in rows if r['source'] == 'felzenszwalb'), rows[0])
    print(f'\n| source | s/img (wall) | s/img (CPU) | x {ref["source"]} (CPU) | first call (s) | labels | segments (8-conn.) '
          f'| All | Fine | Coarse | Mean | Covering | PRI | VoI |')
    print('|' + '---|' * 14)
    for r in rows:
        print(f'| {r["source"]} | {r["wall"]:.2f} | {r["cpu"]:.2f} | {r["cpu"] / max(ref["cpu"], 1e-9):.1f} | {r["first"]:.2f} | {r["segments"]:.0f} '
              f'| {r["n_pred"]:.0f} | {r["all"]:.3f} | {r["fine"]:.3f} | {r["coarse"]:.3f} | {r["mean"]:.3f} | {r["covering"]:.3f} '
              f'| {r["pri"]:.3f} | {r["voi"]:.3f} |')
    print('\nProvenance:')
    for r in rows: print(f'  {r["source"]}: {r["provenance"]}')
    print('\nFor scale (measured here on the 200 test images, not these images): Felzenszwalb .335/.300/.380/.338, LAB k-means .320/.297/.357/.325; '
          'paper DiffSeg alone .364/.357/.357/.359.')


if __name__ == '__main__':
    main()
