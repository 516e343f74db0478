"""A 6000 x 4000 image under the `cpu` profile: wall time and peak resident memory of `segment` (the full-resolution step runs in
bands of rows above `dynaguide.segment.FULL_RES_BYTES`). A synthetic image (two ramps and a checkerboard), the Kanezaki preset (no
guidance to compute at 24 Mpx), one thread.

    python benchmarks/bench_huge.py [--height 4000] [--width 6000] [--max-iter 5]"""
import argparse, resource, time
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--height', type=int, default=4000); ap.add_argument('--width', type=int, default=6000)
    ap.add_argument('--max-iter', type=int, default=5)
    a = ap.parse_args()
    import torch
    from dynaguide.segment import segment
    torch.set_num_threads(1)
    H, W = a.height, a.width
    yy, xx = np.mgrid[:H, :W]
    img = np.stack([xx / W, yy / H, ((xx // 700 + yy // 500) % 2) * 0.8], -1).astype(np.float32)
    t = time.perf_counter()
    r = segment(img, preset='kanezaki', profile='cpu', max_iter=a.max_iter, threads=1)
    print(f'{W}x{H}: {r.labels.max() + 1} segments, finished in bands: {r.response is None}; {time.perf_counter() - t:.1f} s wall, '
          f'peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB')


if __name__ == '__main__':
    main()
