"""TokenCut's eigensolver (scipy `eigh` on the patch graph) with one and with two OpenBLAS threads, beside a busy core.

    python benchmarks/bench_blas_threads.py [--n 40] [--root ../shared/data]

OpenBLAS reads its thread count when numpy loads, so each setting runs in its own child process (OPENBLAS_NUM_THREADS=1 or 2)
while a third process keeps one core busy, as a second shard worker does. Each child builds the TokenCut graphs of the first
--n ECSSD images (EfficientNet-Lite0 features at each image's own size) and times `second_eigenvector` on them. Prints
images per second for each setting and the ratio to one thread. The busy process is stopped at the end.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, time

CHILD = r'''
import json, sys, time, torch
torch.set_num_threads(1)
from dynaguide.backbones import load_backbone, extract_features
from dynaguide.data import saliency_dataset
from dynaguide.object_discovery import tokencut_affinity, second_eigenvector
root, n = sys.argv[1], int(sys.argv[2])
bb = load_backbone('effnet_lite0', device='cpu')
ds = saliency_dataset('ecssd', root)
Ws = [tokencut_affinity(extract_features(bb, ds[i].image()).feats) for i in range(n)]
t = time.perf_counter()
for W in Ws: second_eigenvector(W)
dt = time.perf_counter() - t
print(json.dumps(dict(images_per_s=n / dt, nodes=sum(W.shape[0] for W in Ws) / n)))
'''

BUSY = 'import numpy as np\na = np.random.rand(600, 600)\nwhile True: a @ a'

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=40)
    ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
    a = ap.parse_args()
    from dynaguide.core import CHECKOUT_DATA, data_root
    a.root = str(data_root(a.root, fallback=CHECKOUT_DATA))
    busy = subprocess.Popen([sys.executable, '-c', BUSY], env=dict(os.environ, OPENBLAS_NUM_THREADS='1', OMP_NUM_THREADS='1'))
    try:
        time.sleep(1)
        res = {}
        for k in (1, 2):
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(k), OMP_NUM_THREADS=str(k), MKL_NUM_THREADS=str(k))
            out = subprocess.run([sys.executable, '-c', CHILD, a.root, str(a.n)], env=env, capture_output=True, text=True, check=True)
            res[k] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        busy.kill(); busy.wait()
    print(f'TokenCut eigensolver, {a.n} ECSSD images (mean {res[1]["nodes"]:.0f} patches), one other core busy, {os.cpu_count()} cores')
    for k, r in res.items():
        print(f'  OPENBLAS_NUM_THREADS={k}: {r["images_per_s"]:7.1f} images/s   ({r["images_per_s"] / res[1]["images_per_s"]:.2f}x one thread)')

if __name__ == '__main__':
    main()
