"""`dynaguide segment` on BSDS500 val images: one plain process with one thread against `torchrun --nproc_per_node N` ranks with
one thread each, in this process one after the other. Prints both wall times, their ratio, and whether every label map is the same.

    python benchmarks/bench_torchrun.py [--n 20] [--procs 2] [--root ../shared/data] [--out results]

Both runs use the `cpu` profile with Felzenszwalb guidance and `--set threads=1`; each starts from an empty output folder, and
the wall time includes the start of the processes (loading torch, measuring the precision) as a user would see it. `--out results`
writes `results/tables/speed_torchrun_cpu.{csv,md,json}`."""
import argparse, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
    ap.add_argument('--n', type=int, default=20)
    ap.add_argument('--procs', type=int, default=2)
    ap.add_argument('--out', help='also write tables/speed_torchrun_cpu.* under this folder (e.g. results)')
    a = ap.parse_args()
    from dynaguide.core import CHECKOUT_DATA, data_root
    a.root = str(data_root(a.root, fallback=CHECKOUT_DATA))
    val = Path(a.root) / 'BSDS500' / 'images' / 'val'
    if not val.is_dir(): sys.exit(f'BSDS500 val images not found under {a.root} ')
    bin_ = Path(sys.executable).parent
    work = Path(tempfile.mkdtemp(prefix='bench_torchrun_'))
    src = work / 'in'; src.mkdir()
    for p in sorted(val.glob('*.jpg'))[:a.n]: shutil.copy(p, src / p.name)
    args = [str(src), '--profile', 'cpu', '--set', 'threads=1', '--set', 'guidance=felzenszwalb', '--quiet', '--no-overlay']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    runs = {}
    for name, cmd in (('one process, 1 thread', [str(bin_ / 'dynaguide'), 'segment']),
                      (f'torchrun, {a.procs} processes, 1 thread each',
                       [str(bin_ / 'torchrun'), '--standalone', '--nproc_per_node', str(a.procs), '-m', 'dynaguide', 'segment'])):
        out = work / f'out{len(runs)}'
        t = time.perf_counter()
        r = subprocess.run(cmd + args + ['--out', str(out)], capture_output=True, text=True, env=env)
        runs[name] = (time.perf_counter() - t, out)
        if r.returncode != 0: sys.exit(f'{name} failed ({r.returncode}):\n{r.stderr[-3000:]}')
        print(f'{name:40s} {runs[name][0]:7.1f} s wall', flush=True)
    (t1, o1), (t2, o2) = runs.values()
    names = sorted(p.name for p in o1.glob('*.png'))
    same = names == sorted(p.name for p in o2.glob('*.png')) and all(
        np.array_equal(np.asarray(Image.open(o1 / n)), np.asarray(Image.open(o2 / n))) for n in names)
    print(f'ratio torchrun / one process: {t2 / t1:.2f}; {len(names)} label maps, {"all identical" if same else "NOT identical"}')
    if a.out:
        from dynaguide.core import save_table, versions
        rows = [dict(row=k, wall_s=v[0], ratio=v[0] / t1, n_images=len(names), identical_labels=same) for k, v in runs.items()]
        save_table(rows, Path(a.out) / 'tables' / 'speed_torchrun_cpu', params=dict(n=a.n, procs=a.procs, profile='cpu', guidance='felzenszwalb',
                   threads_per_process=1, versions=versions()), title=f'dynaguide segment, {a.n} BSDS500 val images: one process vs torchrun')
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
