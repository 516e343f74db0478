"Shared fixtures: repository paths and the data root (`dynaguide.core.data_root`: DYNAGUIDE_DATA, else ../shared/data)."
import os
from pathlib import Path
import pytest

from dynaguide.core import CHECKOUT_DATA, data_root

REPO = Path(__file__).resolve().parents[1]
NO_DATA = 'no data root: set DYNAGUIDE_DATA or place the data in ../shared/data'

def data_dir() -> Path | None:
    "The data root if it exists, else None."
    return data_root(fallback=CHECKOUT_DATA, missing_ok=True)

REAL = data_dir()

def need(*parts) -> Path:
    "The data root if REAL/parts is a folder, else skip the test with a message naming the path."
    if REAL is None: pytest.skip(NO_DATA)
    p = REAL.joinpath(*parts)
    if not p.is_dir(): pytest.skip(f'real data not found at {p} (set DYNAGUIDE_DATA)')
    return REAL

@pytest.fixture
def repo() -> Path:
    return REPO

@pytest.fixture
def data() -> Path:
    d = data_dir()
    if d is None: pytest.skip(NO_DATA)
    return d

@pytest.fixture
def bsds_image(data) -> Path:
    p = data / 'BSDS500' / 'images' / 'val' / '101085.jpg'
    if not p.exists(): pytest.skip(f'{p} not found')
    return p

@pytest.fixture(scope='session')
def docs_site(tmp_path_factory) -> Path:
    "The documentation site, built once per test session by `tools/build_docs.py` (as `make docs` does) into a temporary folder."
    import subprocess, sys
    out = tmp_path_factory.mktemp('docs') / '_docs'
    r = subprocess.run([sys.executable, str(REPO / 'tools' / 'build_docs.py'), '--out', str(out)], capture_output=True, text=True,
                       env={**os.environ, 'MPLBACKEND': 'Agg'})
    assert r.returncode == 0, r.stderr[-3000:]
    return out
