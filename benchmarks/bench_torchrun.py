"""`dynaguide segment` on BSDS500 val images: one plain process with one thread against `torchrun --nproc_per_node N` ranks with
one thread each, in this process one after the other, `--repeat` times. Prints both wall times, their ratio, whether every
label map is the same, and where the time goes: each image's own time (from the run records), the start-up of the processes,
and the wall time perfectly balanced ranks would take (start-up + the images' time / N).

    python benchmarks/bench_torchrun.py [--n 20] [--procs 2] [--repeat 3] [--root ../shared/data] [--out results]

Both runs use the `cpu` profile with Felzenszwalb guidance and `--set threads=1`; each starts from an empty output folder, and
the wall time includes the start of the processes (loading torch, measuring the precision) as a user would see it. `--out results`
writes `results/tables/speed_torchrun_cpu.{csv,md,json}` (one row per run and repeat)."""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
from PIL import Image


def timed(cmd: list[str], env: dict) -> float:
    "Wall time of `cmd`; exits with its error output when it fails."
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0: sys.exit(f'{" ".join(cmd[:3])} ... failed ({r.returncode}):\n{r.stderr[-3000:]}')
    return time.perf_counter() - t


def image_seconds(out: Path) -> np.ndarray:
    "Each image's own time (loop and guidance) from the run record."
    return np.array([i['seconds'] + i['guidance_seconds'] for i in json.loads((out / 'run.json').read_text())['images']])


def label_maps(out: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(out.glob('*.png'))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
    ap.add_argument('--n', type=int, default=20)
    ap.add_argument('--procs', type=int, default=2)
    ap.add_argument('--repeat', type=int, default=3, help='pairs of runs (the wall times of this VM vary by about 10 %%)')
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
    launchers = {'one process, 1 thread': ([str(bin_ / 'dynaguide')], 1),
                 f'torchrun, {a.procs} processes, 1 thread each':
                     ([str(bin_ / 'torchrun'), '--standalone', '--nproc_per_node', str(a.procs), '-m', 'dynaguide'], a.procs)}
    rows, ratios, ref = [], [], None
    for rep in range(a.repeat):
        walls = {}
        for name, (cmd, procs) in launchers.items():
            out = work / f'out{rep}_{procs}'
            wall = timed(cmd + ['segment'] + args + ['--out', str(out)], env)
            up = timed(cmd + ['--help'], env)                       # starting the processes, importing torch and dynaguide
            secs = image_seconds(out)
            maps = label_maps(out); ref = ref or maps
            same = maps.keys() == ref.keys() and all(np.array_equal(maps[k], ref[k]) for k in ref)
            walls[name] = wall
            rows.append(dict(row=name, repeat=rep, wall_s=wall, ratio=wall / walls[next(iter(launchers))], image_s_median=float(np.median(secs)),
                             image_s_sum=float(secs.sum()), startup_s=up, balanced_s=up + float(secs.sum()) / procs,
                             n_images=len(maps), identical_labels=same))
            print(f'{rep}: {name:38s} {wall:6.1f} s wall; images median {np.median(secs):.2f} s, sum {secs.sum():.1f} s; '
                  f'start-up {up:.1f} s; balanced: {rows[-1]["balanced_s"]:.1f} s; labels {"identical" if same else "DIFFERENT"}', flush=True)
        ratios.append(rows[-1]['ratio'])
        print(f'{rep}: ratio torchrun / one process {ratios[-1]:.2f} (perfectly balanced ranks: {rows[-1]["balanced_s"] / rows[-2]["wall_s"]:.2f}; '
              f'each image x{rows[-1]["image_s_sum"] / rows[-2]["image_s_sum"]:.2f} as long with {a.procs} processes busy)', flush=True)
    print(f'ratio over {a.repeat} repeats: median {np.median(ratios):.2f}, range {min(ratios):.2f} to {max(ratios):.2f}; '
          f'label maps {"all identical" if all(r["identical_labels"] for r in rows) else "NOT identical"}')
    if a.out:
        from dynaguide.core import save_table, versions
        save_table(rows, Path(a.out) / 'tables' / 'speed_torchrun_cpu', params=dict(n=a.n, procs=a.procs, repeat=a.repeat, profile='cpu',
                   guidance='felzenszwalb', threads_per_process=1, median_ratio=float(np.median(ratios)), versions=versions()),
                   title=f'dynaguide segment, {a.n} BSDS500 val images: one process vs torchrun, {a.repeat} repeats '
                         f'(median ratio {np.median(ratios):.2f})')
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
