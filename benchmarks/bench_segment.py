"""Per-image optimisation cost on BSDS500 test images, all measured in one process so that the ratios are comparable.

    python benchmarks/bench_segment.py [--root ../shared/data] [--cap 2] [--n 2] [--iters 6] [--repeat 2] [--compile] [--sweep]
                                       [--loop-only] [--out results]

1. Seconds per image and BSDS mIoU (All/Fine/Coarse/Mean of the images' ground truths) for the paper settings, run for at most
   `--cap` iterations (the per-image time is then *projected* to 1000 iterations from the per-iteration time and printed as such;
   the mIoU is that of the capped run), and for the `cpu` profile run to its own stop.
2. Seconds per image-iteration of the loop at the `cpu` profile's size (no early stop, `--iters` iterations after one warm-up) for:
   the baseline `optimise`, channels_last, torch.compile of the network (with --compile; compile time printed separately), 2 threads,
   and `segment_batch`'s grouped loop with B = 2 and 4 (and torch.func.vmap with B = 2) against the same images one after another.
   Each row gives the achieved conv FLOP/s as a fraction of a matmul measured in this process, and its ratio to the baseline row.
3. The phases of one baseline iteration (forward, loss, backward, optimiser step).
Everything runs with one torch thread except the explicit 2-thread row (on a 2-core machine that is busy, one thread is faster).
`--out results` also writes the loop rows and phases to `results/tables/speed_cpu.json` and their figure to
`results/figures/speed_cpu.png` (`dynaguide.figures.plot_speed`); `--loop-only` skips part 1.
`--sweep` also runs the older settings sweep (max_side/p/patience variants, each in its own process for its peak memory).
`--compare` (with `--cpu-images N`: also the cpu profile per image, fp32 and auto; with `--compile-loss` also each with the loss
terms under torch.compile, its one-off compile timed apart) runs only the side-by-side comparison, one row after another in this process on the same BSDS500 test image and thread
count (`--threads`), in `--iters-compare` interleaved rounds (every row once per round, so that the VM's slow spells touch all rows
alike; each row's time is its median over rounds and each ratio the median of the per-round ratios): the authors' DynaGuide loop restated at its settings (n_conv 3, p 100, full resolution, float32: one conv
network, per-direction Huber terms against zero targets, two cross-entropies, the reference release's alignment rule, every term
read back each step), our `paper` profile in fp32 and with `precision='auto'`, and our `cpu` profile (auto). Each row prints
seconds per iteration, the convolutions' share of it (torch profiler), the conv FLOP/s achieved over the whole iteration and over the
convolutions alone as fractions of this machine's conv and matmul peaks in fp32 and bf16 (measured here first), and the ratio to the
authors' row; `--out results` writes `results/tables/speed_compare_cpu{TAG}.{csv,md,json}` (and `speed_cpu_images{TAG}.*`)."""
import argparse, copy, multiprocessing as mp, os, resource, sys, time
import dynaguide.core   # first: it turns on huge pages for large tensors before torch allocates anything (see 00_core)
from pathlib import Path

SETTINGS = {
    'paper (full res, p=100, n_conv=2, <=1000 it)': dict(),
    'max_side=320, p=100, patience=30': dict(max_side=320, patience=30),
    'max_side=240, p=64, patience=20': dict(max_side=240, p=64, patience=20),
    'max_side=160, p=32, patience=20': dict(max_side=160, p=32, patience=20),
    'cpu profile (max_side=160, p=64, patience=30, <=100 it, guided upsampling)': dict(profile='cpu'),
}

def matmul_gflops(n=2048, reps=3, dtype=None):
    "Measured matmul GFLOP/s (fp32 unless `dtype`) with torch's current thread count."
    import torch
    a, b = torch.rand(n, n, dtype=dtype), torch.rand(n, n, dtype=dtype); a @ b
    t = time.perf_counter()
    for _ in range(reps): a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9

# ---------------------------------------------------------------- the older sweep (one process per setting, peak memory)
def run_one(image, overrides, cap, cap_fast, threads, q):
    import torch
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

def sweep(image, a):
    "The settings sweep, each setting in its own process."
    ref = matmul_gflops()
    print(f'\n== settings sweep on {image.name}, {a.threads} thread(s); matmul {ref:.1f} GFLOP/s')
    ctx = mp.get_context('spawn')
    rows = []
    for i, (name, ov) in enumerate(SETTINGS.items()):
        q = ctx.Queue(); p = ctx.Process(target=run_one, args=(str(image), ov, a.cap_sweep, a.cap_fast, a.threads, q)); p.start()
        r = q.get(); p.join(); r['setting'] = name; rows.append(r)
        ach = r['iter_gflop'] / r['s_per_iter']
        proj = ' (projected to 1000 it; the stop did not fire within the cap)' if r['capped'] else ''
        print(f"\n{name}\n  optimised at {r['size']}: forward {r['fwd_gflop']:.2f} GFLOP, forward+backward ~{r['iter_gflop']:.2f} GFLOP per iteration\n"
              f"  {r['s_per_iter']:.3f} s/iteration = {ach:.1f} GFLOP/s ({ach / ref:.0%} of matmul)\n"
              f"  {r['n_iter']} iterations, stop: {r['stop']} (K={r['K']}); {r['s_per_image']:.1f} s per image{proj}; guidance {r['guidance_s']:.2f} s\n"
              f"  peak resident memory {r['peak_mb']:.0f} MB (process start {r['start_mb']:.0f} MB)")
    base = rows[0]['s_per_iter']
    print('\nspeed-up per iteration vs paper setting: ' + ', '.join(f"{r['setting'].split(',')[0]}: x{base / r['s_per_iter']:.1f}" for r in rows[1:]))

# ---------------------------------------------------------------- side by side: the authors' loop and ours
def peaks(h, w, p, threads, reps=3):
    "Measured peaks in GFLOP/s: 3x3 conv p -> p at (h, w), forward + backward, in fp32 (best of NCHW and channels_last) and bf16 channels_last; 2048^2 matmul in both."
    import torch, torch.nn.functional as F
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    w0, x0 = torch.randn(p, p, 3, 3, generator=g) * 0.05, torch.randn(1, p, h, w, generator=g)
    flop = 3 * 2 * p * p * 9 * h * w
    def conv(dtype, fmt):
        ww = w0.to(dtype).contiguous(memory_format=fmt).requires_grad_(); xx = x0.to(dtype).contiguous(memory_format=fmt).requires_grad_()
        ts = []
        for _ in range(reps + 1):
            t = time.perf_counter(); F.conv2d(xx, ww, padding=1).sum().backward(); ts.append(time.perf_counter() - t)
        return flop / min(ts[1:]) / 1e9
    return dict(conv_fp32=max(conv(torch.float32, torch.contiguous_format), conv(torch.float32, torch.channels_last)),
                conv_bf16=conv(torch.bfloat16, torch.channels_last), matmul_fp32=matmul_gflops(reps=reps, dtype=torch.float32),
                matmul_bf16=matmul_gflops(reps=reps, dtype=torch.bfloat16))

class AuthorsLoop:
    "The authors' DynaGuide step restated at its settings (n_conv 3, p 100, fp32, reference alignment, terms read back every step)."
    def __init__(self, x, guide, p=100, n_conv=3, beta=15.0, seed=0, align='reference'):
        import torch
        from dynaguide.model import DynaCNN
        torch.manual_seed(seed)
        self.x, self.guide, self.p, self.beta, self.align = x, guide, p, beta, align
        self.model = DynaCNN(p, n_conv).train()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
    def step(self):
        import torch, torch.nn.functional as F
        from dynaguide.losses import align_guidance, neighbour_diffs
        self.opt.zero_grad()
        R = self.model(self.x)
        target = R.detach().argmax(1)
        K = len(torch.unique(target))
        l_sim = F.cross_entropy(R, target)
        l_con = sum(F.huber_loss(t, torch.zeros_like(t)) for t in neighbour_diffs(R, diagonals=True))   # the plain way, zero targets
        g = align_guidance(self.guide.flatten(), target.flatten(), self.p, self.align).reshape(self.guide.shape)
        l_g = F.cross_entropy(R, g)
        loss = l_sim + K / self.beta * l_con + l_g
        loss.backward(); self.opt.step()
        return loss.item(), l_sim.item(), l_con.item(), l_g.item()

class OurLoop:
    "Our loop step by step through the library's own `TrainState` and `step_loss`, for timing without early stops."
    def __init__(self, x, guide, cfg):
        from dynaguide.segment import TrainState, new_dynacnn
        self.cfg, self.guide, self.n_guide = cfg, guide, int(guide.max()) + 1
        self.ts = TrainState.setup(new_dynacnn(cfg), x, cfg)
    def step(self):
        from dynaguide.segment import step_loss
        return self.ts.step(lambda R: step_loss(R, self.guide, self.cfg, None, self.n_guide))[1]

def profile_step(loop):
    "The convolutions' share of one profiled step and its top operators."
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof: loop.step()
    ev = prof.key_averages()
    tot = sum(e.self_cpu_time_total for e in ev)
    conv = sum(e.self_cpu_time_total for e in ev if 'conv' in e.key and e.key.startswith('aten::'))
    top = sorted((e for e in ev if e.key.startswith('aten::')), key=lambda e: -e.self_cpu_time_total)[:6]
    return conv / tot if tot else float('nan'), ', '.join(f'{e.key[6:]} {e.self_cpu_time_total / tot:.0%}' for e in top)

def interleaved_steps(loops, rounds):
    "Seconds per step of each (loop, steps per round), timed round by round, every loop once per round, so that a slow spell of the machine touches all rows alike: (rounds, loops) array."
    import numpy as np
    out = np.zeros((rounds, len(loops)))
    for r in range(rounds):
        for j, (loop, n) in enumerate(loops):
            t = time.perf_counter()
            for _ in range(n): loop.step()
            out[r, j] = (time.perf_counter() - t) / n
    return out

def compare(a):
    "The side-by-side rows (see the module docstring)."
    import numpy as np, torch
    from dataclasses import replace
    from dynaguide.segment import prepare, make_config, resolve_precision
    from dynaguide.model import DynaCNN, conv_flops
    test = Path(a.root) / 'BSDS500' / 'images' / 'test'
    img = sorted(test.glob('*.jpg'))[0]
    torch.set_num_threads(a.threads)
    paper = prepare(img, None, make_config('dynaguide', 'paper', threads=a.threads, precision='fp32'), 'cpu')
    cpu = prepare(img, None, make_config('dynaguide', 'cpu', threads=a.threads, precision='fp32'), 'cpu')
    H, W = paper.xs.shape[-2:]
    pk = peaks(H, W, 100, a.threads)
    auto_paper, auto_cpu = resolve_precision('auto', 'cpu', 100, a.threads), resolve_precision('auto', 'cpu', cpu.cfg.p, a.threads)
    print(f'{img.name} ({W}x{H}), {a.threads} thread(s), torch {torch.__version__}; measured peaks: conv3x3 p=100 fwd+bwd fp32 '
          f"{pk['conv_fp32']:.0f}, bf16 {pk['conv_bf16']:.0f} GFLOP/s; matmul fp32 {pk['matmul_fp32']:.0f}, bf16 {pk['matmul_bf16']:.0f} GFLOP/s; "
          f'auto precision -> {auto_paper} (p=100), {auto_cpu} (cpu profile p={cpu.cfg.p})')
    guide_paper = paper.guide
    specs = [("authors' loop restated (n_conv 3, p 100, full res, fp32)", AuthorsLoop(paper.xs, guide_paper), paper, 3, 'fp32'),
             ('ours before the precision work, restated (n_conv 2, fp32, plain terms)', AuthorsLoop(paper.xs, guide_paper, n_conv=2, align='hungarian'),
              paper, 2, 'fp32'),
             ('ours, paper profile, fp32', OurLoop(paper.xs, guide_paper, paper.cfg), paper, 2, 'fp32'),
             (f"ours, paper profile, precision auto ({auto_paper})", OurLoop(paper.xs, guide_paper, replace(paper.cfg, precision='auto')), paper, 2, auto_paper),
             (f"ours, cpu profile ({cpu.cfg.max_side} px side, p {cpu.cfg.p}), precision auto ({auto_cpu})",
              OurLoop(cpu.xs, cpu.guide, replace(cpu.cfg, precision='auto')), cpu, cpu.cfg.n_conv, auto_cpu)]
    if a.compile_loss:   # the same two loops with the loss terms under torch.compile
        specs += [(f"ours, paper profile, precision auto ({auto_paper}), compiled loss",
                   OurLoop(paper.xs, guide_paper, replace(paper.cfg, precision='auto', compile_loss=True)), paper, 2, auto_paper),
                  (f"ours, cpu profile, precision auto ({auto_cpu}), compiled loss",
                   OurLoop(cpu.xs, cpu.guide, replace(cpu.cfg, precision='auto', compile_loss=True)), cpu, cpu.cfg.n_conv, auto_cpu)]
    firsts = []
    for _, loop, *_ in specs:   # the warm-up step; for the compiled rows it holds the one-off compile (one graph serves both sizes)
        t = time.perf_counter(); loop.step(); firsts.append(time.perf_counter() - t)
    times = interleaved_steps([(loop, 1 if pr is paper else 10) for _, loop, pr, *_ in specs], a.iters_compare)
    med = np.median(times, 0)
    rows = []
    for j, (name, loop, pr, n_conv, dtype) in enumerate(specs):
        conv_share, top = profile_step(loop)
        h, w = pr.xs.shape[-2:]
        gf = 3 * conv_flops(DynaCNN(pr.cfg.p, n_conv), h, w) / med[j] / 1e9
        rows.append(dict(row=name, size=f'{w}x{h}', p=pr.cfg.p, n_conv=n_conv, dtype=dtype, s_per_iter=med[j],
                         s_per_iter_min=times[:, j].min(), s_per_iter_max=times[:, j].max(), first_step_s=firsts[j], conv_share=conv_share,
                         gflops_iter=gf, gflops_conv=gf / conv_share, of_conv_peak=gf / pk[f'conv_{dtype}'],
                         conv_of_conv_peak=gf / conv_share / pk[f'conv_{dtype}'], of_matmul_peak=gf / pk[f'matmul_{dtype}'], top_ops=top,
                         speedup_vs_authors=float(np.median(times[:, 0] / times[:, j]))))
        r = rows[-1]
        print(f"  {name:62s} {r['s_per_iter']:7.3f} s/it (rounds {r['s_per_iter_min']:.3f}-{r['s_per_iter_max']:.3f}; first step {firsts[j]:.1f} s)  "
              f"conv {conv_share:4.0%} of it  {gf:6.1f} GFLOP/s = {r['of_conv_peak']:4.0%} of the {dtype} conv peak "
              f"(convolutions alone {r['conv_of_conv_peak']:4.0%}), {r['of_matmul_peak']:4.0%} of {dtype} matmul\n      top ops: {top}", flush=True)
    ratio = lambda i, j: f"x{np.median(times[:, i] / times[:, j]):.2f} (rounds {(times[:, i] / times[:, j]).min():.2f}-{(times[:, i] / times[:, j]).max():.2f})"
    print('  per-iteration speed-up against the authors\' row, median over rounds: ' + ', '.join(f"{r['row']}: x{r['speedup_vs_authors']:.2f}" for r in rows[1:]))
    print(f"  ours paper auto against ours before: {ratio(1, 3)}; against ours paper fp32: {ratio(2, 3)}")
    if a.compile_loss:
        print(f"  ours paper auto + compiled loss against ours before: {ratio(1, 5)}; against ours paper auto: {ratio(3, 5)}; "
              f"cpu profile compiled against eager: {ratio(4, 6)}")
    if a.out:
        from dynaguide.core import save_table, versions
        thp = os.environ.get('THP_MEM_ALLOC_ENABLE')
        save_table(rows, Path(a.out) / 'tables' / f"speed_compare_cpu{'' if thp == '1' else '_thp_off'}{a.tag}", params=dict(image=img.name, threads=a.threads, rounds=a.iters_compare, THP_MEM_ALLOC_ENABLE=thp,
                   peaks_gflops=pk, cpu=cpu_name(), versions=versions()),
                   title=f"One iteration side by side on {img.name}, {a.threads} thread(s), {cpu_name()}, huge pages {'on' if thp == '1' else 'off'}")
    return rows

def cpu_name():
    "The CPU model name and its bf16 / AMX flags, from /proc/cpuinfo (Linux), for the record."
    try: info = Path('/proc/cpuinfo').read_text()
    except OSError: return 'unknown CPU'
    name = next((l.split(':', 1)[1].strip() for l in info.splitlines() if l.startswith('model name')), 'unknown CPU')
    flags = next((l.split(':', 1)[1].split() for l in info.splitlines() if l.startswith('flags')), [])
    return name + ' (' + (', '.join(f for f in ('avx512_bf16', 'amx_bf16', 'amx_tile') if f in flags) or 'no bf16 units') + ')'

# ---------------------------------------------------------------- the cpu profile per image, fp32 against auto
def cpu_images(a, threads=1):
    "The first `--cpu-images` BSDS500 test images under the BSD500 table's cpu settings (beta 60), Felzenszwalb guidance computed once per image, precision fp32 then auto, one thread: seconds per image and Mean mIoU."
    import numpy as np, torch
    from dynaguide.segment import segment, resolve_precision
    from dynaguide.guidance import compute_guidance
    from dynaguide.data import BSDS500
    from dynaguide.metrics import score_bsds, reduce_bsds
    torch.set_num_threads(threads)
    ds = BSDS500(a.root, 'test')
    items = [ds[i] for i in range(min(a.cpu_images, len(ds)))]
    guides = []
    for it in items:
        t = time.perf_counter(); g = compute_guidance(it.image_path, 'felzenszwalb'); guides.append((g, time.perf_counter() - t))
    rows = []
    variants = [('fp32', False), ('auto', False)] + ([('auto', True)] if a.compile_loss else [])
    res, walls = [[] for _ in variants], np.zeros(len(variants))
    for it, (g, _) in zip(items, guides):   # image by image, every variant in turn: a slow spell of the machine touches all alike
        for j, (prec, comp) in enumerate(variants):
            t0 = time.perf_counter()
            res[j].append(segment(it.image_path, guidance=g, profile='cpu', beta=60.0, threads=threads, precision=prec, compile_loss=comp))
            walls[j] += time.perf_counter() - t0   # the one-off compile included
    gs = np.array([s for _, s in guides])
    for (prec, comp), rs, wall in zip(variants, res, walls):
        used = resolve_precision(prec, 'cpu', 64, threads)
        loop = np.array([r.seconds for r in rs])
        m = reduce_bsds([score_bsds(r.labels, it.segmentations, it.id) for r, it in zip(rs, items)])
        rows.append(dict(row=f'cpu profile, {prec} ({used}){", compiled loss" if comp else ""}', precision=used, compile_loss=comp,
                         median_s=float(np.median(loop)), mean_s=float(loop.mean()), first_s=float(loop[0]), wall_s=float(wall),
                         median_s_with_guidance=float(np.median(loop + gs)), median_iter=float(np.median([r.n_iter for r in rs])),
                         mean=m['mean'], all=m['all'], fine=m['fine'], coarse=m['coarse'], n_images=len(items)))
        r = rows[-1]
        print(f"  {r['row']:44s} median {r['median_s']:.2f} s per image ({r['median_s_with_guidance']:.2f} s with its Felzenszwalb guidance), "
              f"mean {r['mean_s']:.2f} s, first image {r['first_s']:.1f} s, median {r['median_iter']:.0f} iterations, Mean mIoU {r['mean']:.3f}", flush=True)
    per = lambda i, j: np.median([a.seconds / b.seconds for a, b in zip(res[i], res[j])])   # image by image, then the median
    for j, r in enumerate(rows): r['median_ratio_to_fp32'] = float(per(0, j))
    print(f"  median per-image ratio: auto against fp32 x{per(0, 1):.2f}" + (f", compiled loss against auto x{per(1, 2):.2f}" if a.compile_loss else ''))
    print(f"  auto against fp32: x{rows[0]['median_s'] / rows[1]['median_s']:.2f} per image"
          + (f"; compiled loss against auto: x{rows[1]['median_s'] / rows[2]['median_s']:.2f} (median), x{rows[1]['wall_s'] / rows[2]['wall_s']:.2f} "
             f"(all {len(items)} images with the compile)" if a.compile_loss else ''))
    if a.out:
        from dynaguide.core import save_table, versions
        stem = 'speed_cpu_images' + ('' if threads == 1 else f'_{threads}threads') + a.tag
        save_table(rows, Path(a.out) / 'tables' / stem, params=dict(n_images=len(items), threads=threads, beta=60.0,
                   guidance='felzenszwalb', cpu=cpu_name(), THP_MEM_ALLOC_ENABLE=os.environ.get('THP_MEM_ALLOC_ENABLE'), versions=versions()),
                   title=f'cpu profile per BSDS500 test image (first {len(items)}), {threads} thread(s), {cpu_name()}')
    return rows

# ---------------------------------------------------------------- per-image seconds and mIoU
def per_image(items, profile, cap, ref):
    "Segment each (id, image path, ground truths) with `profile` (at most `cap` iterations if given); print seconds and mIoU."
    import torch
    from dynaguide.segment import segment, make_config, _resize_to_side
    from dynaguide.model import DynaCNN, conv_flops
    from dynaguide.metrics import score_bsds, reduce_bsds
    cfg = make_config('dynaguide', profile)
    ov = dict(threads=1) | (dict(max_iter=cap) if cap else {})
    scores, secs, lines = [], [], []
    for k, path, gts in items:
        r = segment(path, profile=profile, **ov)
        stopped = r.stop_reason in ('min_labels', 'patience')
        s_it = r.seconds / r.n_iter
        projected = cap is not None and cap < cfg.max_iter and not stopped
        secs.append(s_it * cfg.max_iter if projected else r.seconds)
        h, w = _resize_to_side(torch.zeros(1, 1, *r.labels.shape), cfg.max_side).shape[-2:]
        frac = 3 * conv_flops(DynaCNN(cfg.p, cfg.n_conv, skip=cfg.skip), h, w) / s_it / 1e9 / ref
        scores.append(score_bsds(r.labels, gts, k))
        m = scores[-1].row()
        lines.append(f"  {k}: {w}x{h}, {r.n_iter} it ({r.stop_reason}, K={r.trace[-1]['K']}), {s_it:.3f} s/it ({frac:.0%} of matmul), "
                     f"{secs[-1]:.1f} s/image{' PROJECTED to 1000 it' if projected else ''}, guidance {r.guidance_seconds:.2f} s, "
                     f"mIoU Mean {m['mean']:.3f}{' (of the capped run)' if projected else ''}")
    red = reduce_bsds(scores)
    return secs, red, lines

# ---------------------------------------------------------------- per-iteration timings of the loop variants
class VmapGroup:
    "B `DynaCNN`s run through torch.func.vmap(functional_call) over stacked parameters (a stand-in for `GroupedDynaCNN`, no `select`)."
    def __new__(cls, models):
        import torch
        from torch import nn
        from torch.func import stack_module_state, functional_call, vmap
        class _V(nn.Module):
            def __init__(self):
                super().__init__()
                params, buffers = stack_module_state(list(models))
                self.names = list(params)
                self.ps = nn.ParameterList([nn.Parameter(params[n].detach()) for n in self.names])
                self.buffers_ = buffers
                self.__dict__['base'] = copy.deepcopy(models[0]).to('meta')   # not a submodule: .to() must not touch it
            def forward(self, x):
                f = lambda p, b, xi: functional_call(self.base, (p, b), (xi[None],))[0]
                return vmap(f)(dict(zip(self.names, self.ps)), self.buffers_, x)
        return _V()

def loop_timings(preps, cfg, iters, ref1, ref2, compile_, repeat):
    "Seconds per image-iteration of the loop variants on prepared images (same size), with ratios to the baseline."
    import torch
    import importlib
    S, Bt = importlib.import_module('dynaguide.segment'), importlib.import_module('dynaguide.multi_image')   # the package exports functions of these names
    from dynaguide.model import DynaCNN, conv_flops
    c = copy.copy(cfg); c.min_labels, c.patience, c.max_iter = 0, None, iters
    h, w = preps[0].xs.shape[-2:]
    flop = 3 * conv_flops(DynaCNN(cfg.p, cfg.n_conv, skip=cfg.skip), h, w)
    warm = copy.copy(c); warm.max_iter = 1
    def best(f):
        "Fastest of `repeat` timings of `f` (the machine is shared: the minimum is the least disturbed run)."
        out = []
        for _ in range(repeat):
            t = time.perf_counter(); f(); out.append(time.perf_counter() - t)
        return min(out)
    def seq(n, xform=lambda x: x):
        S.optimise(xform(preps[0].xs), preps[0].guide, warm)
        return best(lambda: [S.optimise(xform(pr.xs), pr.guide, c) for pr in preps[:n]]) / (n * iters)
    def batch(n):
        xs = torch.cat([pr.xs for pr in preps[:n]]); gs = [pr.guide for pr in preps[:n]]
        Bt.optimise_batch(xs, gs, warm)
        return best(lambda: Bt.optimise_batch(xs, gs, c)) / (n * iters)
    rows, notes = [], []
    torch.set_num_threads(1)
    rows.append(('baseline optimise (1 image, 1 thread)', seq(1), ref1))
    orig = S.DynaCNN
    try:
        S.DynaCNN = lambda *a, **k: orig(*a, **k).to(memory_format=torch.channels_last)
        rows.append(('channels_last (model and input)', seq(1, lambda x: x.contiguous(memory_format=torch.channels_last)), ref1))
    finally: S.DynaCNN = orig
    if compile_:
        try:
            S.DynaCNN = lambda *a, **k: torch.compile(orig(*a, **k))
            t = time.perf_counter(); S.optimise(preps[0].xs, preps[0].guide, warm); tc = time.perf_counter() - t
            rows.append(('torch.compile(network), after compiling', seq(1), ref1))
            notes.append(f'torch.compile: first iteration (compile + run) took {tc:.1f} s')
        except Exception as e: notes.append(f'torch.compile failed here: {type(e).__name__}: {str(e).splitlines()[0][:150]}')
        finally: S.DynaCNN = orig
    torch.set_num_threads(2)
    rows.append(('2 threads', seq(1), ref2))
    torch.set_num_threads(1)
    for n in (2, 4):
        if len(preps) < n: continue
        rows.append((f'sequential, {n} images', seq(n), ref1))
        rows.append((f'segment_batch grouped loop, B={n}', batch(n), ref1))
    orig_g = Bt.GroupedDynaCNN
    try:
        Bt.GroupedDynaCNN = VmapGroup
        rows.append(('torch.func.vmap loop, B=2', batch(2), ref1))
    except Exception as e: notes.append(f'vmap failed: {type(e).__name__}: {e}')
    finally: Bt.GroupedDynaCNN = orig_g
    base = rows[0][1]
    print(f'\n== loop per image-iteration at {w}x{h}, p={cfg.p}, n_conv={cfg.n_conv} ({flop / 1e9:.2f} GFLOP conv forward+backward), '
          f'{iters} iterations after a warm-up, no early stop, fastest of {repeat}')
    print(f"  {'variant':45s} {'s/img-it':>9s} {'GFLOP/s':>8s} {'of matmul':>9s} {'vs baseline':>11s}")
    for name, s, ref in rows:
        print(f'  {name:45s} {s:9.4f} {flop / s / 1e9:8.2f} {flop / s / 1e9 / ref:9.1%} {base / s:10.2f}x')
    for n in notes: print('  ' + n)
    return [dict(variant=name, seconds=s, gflops=flop / s / 1e9, of_matmul=flop / s / 1e9 / ref, speedup=base / s) for name, s, ref in rows]

def phase_timings(pr, cfg, iters, repeat):
    "Seconds per iteration of each phase of the baseline loop (forward, loss, backward, optimiser step), one thread, fastest of `repeat`."
    import torch
    from dynaguide.core import seed_everything
    from dynaguide.model import DynaCNN
    from dynaguide.segment import step_loss
    torch.set_num_threads(1)
    n_guide = int(pr.guide.max()) + 1 if pr.guide is not None else None
    best = None
    for _ in range(repeat):
        seed_everything(cfg.seed)
        model = DynaCNN(cfg.p, cfg.n_conv, skip=cfg.skip).train()
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
        t = dict(forward=0., loss=0., backward=0., step=0.)
        for i in range(iters + 1):   # the first iteration is a warm-up
            c0 = time.perf_counter(); opt.zero_grad(set_to_none=True); R = model(pr.xs)
            c1 = time.perf_counter(); loss, _ = step_loss(R, pr.guide, cfg, pr.opt_nc, n_guide)
            c2 = time.perf_counter(); loss.backward()
            c3 = time.perf_counter(); opt.step()
            c4 = time.perf_counter()
            if i:
                for k, a, b in (('forward', c0, c1), ('loss', c1, c2), ('backward', c2, c3), ('step', c3, c4)): t[k] += (b - a) / iters
        if best is None or sum(t.values()) < sum(best.values()): best = t
    print(f"\n== one baseline iteration by phase (fastest of {repeat}): " + ', '.join(f'{k} {v * 1e3:.1f} ms' for k, v in best.items())
          + f' (total {sum(best.values()) * 1e3:.1f} ms)')
    return best

def save_speed(out, variants, phases, meta):
    "Write `out/tables/speed_cpu.json` and the figure `out/figures/speed_cpu.png` (dynaguide.figures, which needs seaborn)."
    import json
    from dynaguide.figures import plot_speed
    out = Path(out); (out / 'tables').mkdir(parents=True, exist_ok=True)
    (out / 'tables' / 'speed_cpu.json').write_text(json.dumps(dict(meta, variants=variants, phases=phases), indent=1))
    plot_speed(variants, phases, out / 'figures' / 'speed_cpu.png',
               title=f"loop per image-iteration at {meta['size']}, p={meta['p']}, n_conv={meta['n_conv']} (torch {meta['torch']})")
    print(f'wrote {out / "tables" / "speed_cpu.json"} and {out / "figures" / "speed_cpu.png"}')

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=None, help='data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)')
    ap.add_argument('--cap', type=int, default=2, help='most iterations actually run for the paper settings (time projected to 1000)')
    ap.add_argument('--n-paper', type=int, default=1, help='images for the (capped) paper-settings run')
    ap.add_argument('--n', type=int, default=2, help='images for the cpu-profile run')
    ap.add_argument('--iters', type=int, default=6, help='timed iterations per loop variant')
    ap.add_argument('--compile', action='store_true', help='also time torch.compile of the network (compiling took ~2 minutes here)')
    ap.add_argument('--repeat', type=int, default=2, help='timings per loop variant; the fastest is printed')
    ap.add_argument('--sweep', action='store_true', help='also run the older settings sweep (slow)')
    ap.add_argument('--cap-sweep', type=int, default=40); ap.add_argument('--cap-fast', type=int, default=300)
    ap.add_argument('--threads', type=int, default=1, help='threads for the sweep')
    ap.add_argument('--tag', default='', help="appended to the --compare tables' names (e.g. _xeon-amx), so that each machine keeps its own")
    ap.add_argument('--out', help='also write tables/speed_cpu.json and figures/speed_cpu.png under this folder (e.g. results)')
    ap.add_argument('--loop-only', action='store_true', help='skip the per-image runs: loop variants and phases only')
    ap.add_argument('--compare', action='store_true', help="only the side-by-side rows: the authors' loop restated and ours")
    ap.add_argument('--iters-compare', type=int, default=5, help='rounds of --compare: each round times one step of every full-resolution row and 10 of every cpu-profile row, one row after another')
    ap.add_argument('--cpu-images', type=int, default=0, help='with --compare: also the cpu profile on this many BSDS500 test images, fp32 and auto')
    ap.add_argument('--cpu-threads', type=int, nargs='+', default=[1], help='threads for the --cpu-images rows (e.g. 1 2)')
    ap.add_argument('--images-only', action='store_true', help='with --compare and --cpu-images: only the per-image rows')
    ap.add_argument('--compile-loss', action='store_true', help='with --compare: also the rows with the loss terms under torch.compile (compile_loss=True)')
    a = ap.parse_args()
    from dynaguide.core import CHECKOUT_DATA, data_root
    a.root = str(data_root(a.root, fallback=CHECKOUT_DATA))
    if a.compare:
        if not a.images_only: compare(a)
        for th in a.cpu_threads if a.cpu_images else ():
            print(f'\n== cpu profile per image, first {a.cpu_images} BSDS500 test images, {th} thread(s)'); cpu_images(a, th)
        return
    test = Path(a.root) / 'BSDS500' / 'images' / 'test'
    if not test.is_dir(): sys.exit(f'BSDS500 test images not found under {a.root} ')
    import torch
    from dynaguide.data import read_bsds_mat
    from dynaguide.data import image_size
    land = [p for p in sorted(test.glob('*.jpg')) if tuple(image_size(p)) == (321, 481)][:4]   # one orientation: one group
    items = [(p.stem, p, read_bsds_mat(test.parents[1] / 'groundTruth' / 'test' / f'{p.stem}.mat')) for p in land]
    torch.set_num_threads(2); ref2 = matmul_gflops()
    torch.set_num_threads(1); ref1 = matmul_gflops()
    print(f'images {", ".join(p.name for p in land)} (BSDS500 test, 481x321); torch {torch.__version__}; '
          f'matmul reference (2048^2 fp32): {ref1:.1f} GFLOP/s 1 thread, {ref2:.1f} GFLOP/s 2 threads')
    t0 = time.perf_counter()
    for profile, cap, n in () if a.loop_only else (('paper', a.cap, a.n_paper), ('cpu', None, a.n)):
        secs, red, lines = per_image(items[:n], profile, cap, ref1)
        what = f'paper settings, at most {cap} iterations run' if cap else 'cpu profile, run to its stop'
        print(f'\n== {what}, {n} image(s), 1 thread')
        for l in lines: print(l)
        print(f"  mean {sum(secs) / len(secs):.1f} s per image{' (PROJECTED)' if cap else ''}; BSDS mIoU All {red['all']:.3f} "
              f"Fine {red['fine']:.3f} Coarse {red['coarse']:.3f} Mean {red['mean']:.3f}")
    from dynaguide.segment import prepare
    from dynaguide.segment import make_config
    cfg = make_config('dynaguide', 'cpu', threads=1, precision='fp32')   # the fp32 loop's variants (--compare has the precisions)
    preps = [prepare(p, None, cfg, torch.device('cpu')) for _, p, _ in items]
    variants = loop_timings(preps, cfg, a.iters, ref1, ref2, a.compile, a.repeat)
    phases = phase_timings(preps[0], cfg, a.iters, a.repeat)
    if a.out:
        h, w = preps[0].xs.shape[-2:]
        save_speed(a.out, variants, phases, dict(size=f'{w}x{h}', p=cfg.p, n_conv=cfg.n_conv, iters=a.iters, repeat=a.repeat,
                                                 torch=torch.__version__, matmul_gflops_1_thread=ref1, matmul_gflops_2_threads=ref2))
    print(f'\n(total {time.perf_counter() - t0:.0f} s)')
    if a.sweep: sweep(land[0], a)

if __name__ == '__main__':
    main()
