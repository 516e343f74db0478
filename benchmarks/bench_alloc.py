"""Fresh-tensor cost on this machine: element-wise ops on a response-sized tensor (100 x 321 x 481 float32 = 62 MB), one thread,
with PyTorch's THP_MEM_ALLOC_ENABLE=0 and =1 (each in its own process: torch reads it once), against the same op into a
preallocated output. Prints milliseconds per op and the ratios.

    python benchmarks/bench_alloc.py [--reps 5]"""
import argparse, json, os, subprocess, sys

CHILD = r'''
import json, sys, time, torch
torch.set_num_threads(1)
R = torch.randn(1, 100, 321, 481); out = torch.empty_like(R); reps = int(sys.argv[1])
def tm(f):
    f(); t = time.perf_counter()
    for _ in range(reps): f()
    return (time.perf_counter() - t) / reps * 1e3
print(json.dumps({'a - b, fresh output': tm(lambda: R[:, :, 1:, :] - R[:, :, :-1, :]),
                  'clamp, fresh output': tm(lambda: R.clamp(-1, 1)),
                  'empty_like + fill_': tm(lambda: torch.empty_like(R).fill_(1)),
                  'a - b into a preallocated output': tm(lambda: torch.sub(R, R, out=out))}))
'''

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--reps', type=int, default=5)
    a = ap.parse_args()
    try: mode = open('/sys/kernel/mm/transparent_hugepage/enabled').read().strip()
    except OSError: mode = 'unknown'
    res = {}
    for v in ('0', '1'):
        env = dict(os.environ, THP_MEM_ALLOC_ENABLE=v, OMP_NUM_THREADS='1')
        res[v] = json.loads(subprocess.run([sys.executable, '-c', CHILD, str(a.reps)], env=env, capture_output=True, text=True, check=True).stdout)
    print(f'kernel THP mode: {mode}; torch ops on a 62 MB tensor, one thread, ms per op (mean of --reps after one warm-up)')
    print(f"  {'op':36s} {'THP off':>9s} {'THP on':>9s} {'ratio':>7s}")
    for k in res['0']: print(f"  {k:36s} {res['0'][k]:9.1f} {res['1'][k]:9.1f} {res['0'][k] / res['1'][k]:6.1f}x")

if __name__ == '__main__':
    main()
