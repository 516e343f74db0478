"""Per-image optimisation cost on one BSDS500 test image: FLOPs per iteration, seconds per iteration and per image,
iterations until the loop stops, peak memory; for the paper settings and faster ones.

    python benchmarks/bench_segment.py [--root ../shared/data] [--cap 40] [--threads 2]

Each setting runs in its own process so that its peak resident memory (ru_maxrss) is its own. The paper setting runs at most
`--cap` iterations (1000 would take most of an hour on a 2-core CPU); its per-image time is then projected from the per-iteration
time and printed as such. A matmul reference measured in the same run gives the achieved fraction of this machine's FLOP/s."""
import argparse, json, multiprocessing as mp, os, resource, sys, time
from pathlib import Path

SETTINGS = {
    'paper (full res, p=100, n_conv=2, <=1000 it)': dict(),
    'max_side=320, p=100, patience=30': dict(max_side=320, patience=30),
    'max_side=240, p=64, patience=20': dict(max_side=240, p=64, patience=20),
    'max_side=160, p=32, patience=20': dict(max_side=160, p=32, patience=20),
    'cpu profile (max_side=160, p=64, patience=30, <=100 it, guided upsampling)': dict(profile='cpu'),
}

def matmul_gflops(n=2048, reps=5):
    import torch
    a, b = torch.rand(n, n), torch.rand(n, n); a @ b
    t = time.perf_counter()
    for _ in range(reps): a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9

def run_one(image, overrides, cap, cap_fast, threads, q):
    import torch, numpy as np
    torch.set_num_threads(threads)
    from dynaguide.core import load_image
    from dynaguide.segment import segment, make_config, _resize_to_side
    from dynaguide.model import DynaCNN, conv_flops
    img = load_image(image)
    ov = dict(overrides)
    profile = ov.pop('profile', 'paper')
    cfg = make_config('dynaguide', profile, **ov)
    cap = cap if cfg.patience is None else cap_fast
    capped = cfg.max_iter > cap
    if capped: ov['max_iter'] = cap
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = segment(img, profile=profile, **ov)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    h, w = _resize_to_side(torch.zeros(1, 1, *img.shape[:2]), cfg.max_side).shape[-2:]
    fwd = conv_flops(DynaCNN(cfg.p, cfg.n_conv, skip=cfg.skip), h, w)
    it_s = r.seconds / r.n_iter
    stopped = r.stop_reason in ('min_labels', 'patience')
    q.put(dict(size=f'{w}x{h}', p=cfg.p, n_conv=cfg.n_conv, fwd_gflop=fwd / 1e9, iter_gflop=3 * fwd / 1e9, s_per_iter=it_s,
               n_iter=r.n_iter, stop=r.stop_reason, capped=capped and not stopped,
               s_per_image=r.seconds if stopped or not capped else it_s * cfg.max_iter,
               guidance_s=r.guidance_seconds, peak_mb=peak / 1024, start_mb=base / 1024, K=r.trace[-1]['K']))

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=os.environ.get('DYNAGUIDE_DATA', str(Path(__file__).resolve().parents[2] / 'shared' / 'data')))
    ap.add_argument('--cap', type=int, default=40, help='most iterations actually run for the paper setting')
    ap.add_argument('--cap-fast', type=int, default=300, help='most iterations run for the settings with a patience stop')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--only', default='', help='run only the settings whose name contains this text (the paper setting always runs, as the reference)')
    a = ap.parse_args()
    test = Path(a.root) / 'BSDS500' / 'images' / 'test'
    if not test.is_dir(): sys.exit(f'BSDS500 test images not found under {a.root} (pass --root or set DYNAGUIDE_DATA)')
    image = sorted(test.glob('*.jpg'))[0]
    import torch; torch.set_num_threads(a.threads)
    ref = matmul_gflops()
    print(f'image {image.name}; torch {torch.__version__}, {a.threads} thread(s); matmul reference {ref:.1f} GFLOP/s (2048^2 fp32)')
    ctx = mp.get_context('spawn')
    rows = []
    for i, (name, ov) in enumerate(SETTINGS.items()):
        if i and a.only not in name: continue
        q = ctx.Queue(); p = ctx.Process(target=run_one, args=(str(image), ov, a.cap, a.cap_fast, a.threads, q)); p.start()
        r = q.get(); p.join(); r['setting'] = name; rows.append(r)
        ach = r['iter_gflop'] / r['s_per_iter']
        proj = ' (projected to 1000 it; the stop did not fire within the cap)' if r['capped'] else ''
        print(f"\n{name}\n  optimised at {r['size']}: forward {r['fwd_gflop']:.2f} GFLOP, forward+backward ~{r['iter_gflop']:.2f} GFLOP per iteration\n"
              f"  {r['s_per_iter']:.3f} s/iteration = {ach:.1f} GFLOP/s ({ach / ref:.0%} of matmul)\n"
              f"  {r['n_iter']} iterations, stop: {r['stop']} (K={r['K']}); {r['s_per_image']:.1f} s per image{proj}; guidance {r['guidance_s']:.2f} s\n"
              f"  peak resident memory {r['peak_mb']:.0f} MB (process start {r['start_mb']:.0f} MB)")
    base = rows[0]['s_per_iter']
    print('\nspeed-up per iteration vs paper setting: ' + ', '.join(f"{r['setting'].split(',')[0]}: x{base / r['s_per_iter']:.1f}" for r in rows[1:]))

if __name__ == '__main__':
    main()
