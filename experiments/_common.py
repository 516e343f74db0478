"Shared setup of the BSDS500 val experiments: one BLAS thread, the data root, and the --root / --n / --out options."
import argparse, os
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1'); os.environ.setdefault('OMP_NUM_THREADS', '1')   # before numpy loads

ROOT_HELP = 'data root (default: the environment variable DYNAGUIDE_DATA, else ../shared/data beside the checkout)'


def resolve_root(root) -> str:
    "The data root as a string: `root`, else DYNAGUIDE_DATA, else ../shared/data beside the checkout (`dynaguide.core.data_root`)."
    from dynaguide.core import CHECKOUT_DATA, data_root
    return str(data_root(root, fallback=CHECKOUT_DATA))


def val_parser(doc: str, n: int = 10) -> argparse.ArgumentParser:
    "An argument parser described by the script's docstring, with --root, --n and --out."
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=None, help=ROOT_HELP)
    ap.add_argument('--n', type=int, default=n); ap.add_argument('--out', default='results/tuning')
    return ap


def val_images(a: argparse.Namespace) -> tuple[list, list]:
    "One torch thread; `a.root` resolved; the first `a.n` BSDS500 val items and their images."
    import torch
    from dynaguide.core import load_image
    from dynaguide.data import BSDS500
    torch.set_num_threads(1)
    a.root = resolve_root(a.root)
    ds = BSDS500(a.root, 'val'); items = [ds[i] for i in range(min(a.n, len(ds)))]
    return items, [load_image(it.image_path) for it in items]
