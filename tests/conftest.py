"Shared fixtures: repository paths and the data root (../shared/data unless DYNAGUIDE_DATA says otherwise)."
import os
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get('DYNAGUIDE_DATA') or REPO.parent / 'shared' / 'data')

def need(*parts) -> Path:
    "The data root if REAL/parts is a folder, else skip the test with a message naming the path."
    p = REAL.joinpath(*parts)
    if not p.is_dir(): pytest.skip(f'real data not found at {p} (set DYNAGUIDE_DATA)')
    return REAL

def data_dir() -> Path | None:
    "The data root if it exists, else None."
    p = Path(os.environ.get('DYNAGUIDE_DATA') or REPO.parent / 'shared' / 'data')
    return p if p.is_dir() else None

@pytest.fixture
def repo() -> Path:
    return REPO

@pytest.fixture
def data() -> Path:
    d = data_dir()
    if d is None: pytest.skip('no data root: set DYNAGUIDE_DATA or place the data in ../shared/data')
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
