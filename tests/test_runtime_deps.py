"""The library on its runtime dependencies alone: every module imports (the figures module instead names the extra it needs),
and every profile's settings build and run, the saliency head's trainer included.

A fresh venv per test run would cost a torch install (several GB), so the test builds the next best thing: a folder of links to
just the installed distributions that a plain `pip install dynaguide` brings (dynaguide's requirements without extras, and
theirs, recursively, read from the installed metadata), and runs `python -S` (no site-packages) on it and the repository.
kornia, pandas, seaborn, nbdev, pytest, transformers and every other dev or extra package are then absent, as on a user's machine."""
import json, re, subprocess, sys, textwrap
from importlib import metadata
from pathlib import Path
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def norm(name: str) -> str: return re.sub(r'[-_.]+', '-', name).lower()


def runtime_closure(root: str = 'dynaguide') -> set[str]:
    "Normalised names of the distributions a plain install of `root` brings: its requirements without extras, and theirs."
    seen, todo = set(), [root]
    while todo:
        d = todo.pop()
        if norm(d) in seen: continue
        seen.add(norm(d))
        try: reqs = metadata.requires(d) or []
        except metadata.PackageNotFoundError: continue
        todo += [r.name for r in map(Requirement, reqs) if r.marker is None or r.marker.evaluate({'extra': ''})]
    return seen


def runtime_site(dest: Path) -> Path:
    "`dest` holding links to the top-level files of every installed runtime distribution but dynaguide (imported from the repository)."
    dest.mkdir(parents=True, exist_ok=True)
    keep = runtime_closure() - {'dynaguide'}
    for dist in metadata.distributions():
        if norm(dist.metadata['Name']) not in keep: continue
        site = Path(dist.locate_file(''))
        for top in {Path(f).parts[0] for f in dist.files or []}:
            src = site / top
            if top != '..' and src.exists() and not (dest / top).exists(): (dest / top).symlink_to(src)
    return dest


CHECK = textwrap.dedent('''
    import importlib, json, pkgutil, sys, tempfile
    from pathlib import Path
    import numpy as np, torch
    from PIL import Image
    import dynaguide
    import importlib.util
    out = {'absent': sorted(m for m in ('kornia', 'pandas', 'seaborn', 'nbdev', 'pytest', 'transformers') if importlib.util.find_spec(m) is None)}
    mods = sorted(m.name for m in pkgutil.iter_modules(dynaguide.__path__) if not m.name.startswith('_'))
    out['modules'], out['failed'] = mods, {}
    for m in mods:
        try: importlib.import_module(f'dynaguide.{m}')
        except Exception as e: out['failed'][m] = f'{type(e).__name__}: {e}'
    from dynaguide.segment import PRESETS, PROFILES, make_config
    out['configs'] = [(p, q, make_config(p, q).max_iter) for p in PRESETS for q in PROFILES]
    from dynaguide.saliency_head import SEMPART_PROFILES, train_kwargs, train_sempart
    from dynaguide.backbones import Backbone

    class Tiny(Backbone):
        "A random stride-8 feature extractor: the trainer's code paths without any weights."
        name, dim, stride, multiple, tag = 'tiny', 8, 8, 8, 'tiny-random'
        def __init__(self):
            super().__init__([0.5] * 3, [0.25] * 3)
            self.conv = torch.nn.Conv2d(3, 8, 8, stride=8)
        def features(self, x): return self.conv(x)

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(4):
            p = Path(d) / f'{i}.png'
            Image.fromarray((np.random.default_rng(i).random((40, 48, 3)) * 255).astype(np.uint8)).save(p); paths.append(p)
        out['sempart'] = {}
        for name in SEMPART_PROFILES:
            kw = dict(train_kwargs(name), size=32, batch_size=2, epochs=1, fine_channels=4, progress=False)
            try: r = train_sempart(paths, Tiny(), **kw); out['sempart'][name] = [kw['augment'], bool(np.isfinite(r.log[-1]['loss']))]
            except Exception as e: out['sempart'][name] = [kw['augment'], f'{type(e).__name__}: {e}']
    print(json.dumps(out))
''')


def test_modules_and_profiles_on_runtime_dependencies_only(tmp_path):
    site = runtime_site(tmp_path / 'site')
    r = subprocess.run([sys.executable, '-S', '-c', CHECK], capture_output=True, text=True, cwd=tmp_path,
                       env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': f'{site}:{REPO}', 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg'})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out['absent'] == ['kornia', 'nbdev', 'pandas', 'pytest', 'seaborn', 'transformers']   # the dev tools really are absent
    assert {'core', 'segment', 'cli', 'saliency_head'} <= set(out['modules'])
    # only the figures module needs more (seaborn, pandas), and it says which extra brings them
    assert set(out['failed']) <= {'figures'}, out['failed']
    assert all("pip install 'dynaguide[figures]'" in why for why in out['failed'].values()), out['failed']
    assert len(out['configs']) >= 8
    assert out['sempart'] and all(ok is True for _, ok in out['sempart'].values()), out['sempart']
    assert 'spec' in {aug for aug, _ in out['sempart'].values()}     # the paper's augmentation ran too
