"The repository's invariants: README generated from nbs/index.ipynb, library in sync with the notebooks, the installed package."
import os, shutil, subprocess, sys, filecmp
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent

def test_readme_matches_index(repo, tmp_path):
    subprocess.run([str(BIN / 'jupyter'), 'nbconvert', '--to', 'markdown', '--TagRemovePreprocessor.remove_cell_tags', 'remove_cell',
                    '--output-dir', str(tmp_path), '--output', 'README', str(repo / 'nbs' / 'index.ipynb')], check=True, capture_output=True)
    assert (tmp_path / 'README.md').read_text() == (repo / 'README.md').read_text(), 'README.md is stale: run `make readme`'

def test_library_in_sync_with_notebooks(repo, tmp_path):
    for f in ('settings.ini', 'setup.py', 'pyproject.toml'): shutil.copy(repo / f, tmp_path / f)
    shutil.copytree(repo / 'nbs', tmp_path / 'nbs')
    shutil.copytree(repo / 'dynaguide', tmp_path / 'dynaguide', ignore=shutil.ignore_patterns('__pycache__'))
    subprocess.run([str(BIN / 'nbdev_export')], cwd=tmp_path, check=True, capture_output=True)
    cmp = filecmp.dircmp(repo / 'dynaguide', tmp_path / 'dynaguide', ignore=['__pycache__'])
    assert not cmp.diff_files and not cmp.right_only, f'run nbdev_export: differs {cmp.diff_files}, new {cmp.right_only}'

def test_installed_wheel_runs_without_dev_tools(repo, tmp_path):
    "Build the wheel, install it alone into a folder and run it from elsewhere; nbdev/fastcore must not be imported."
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path / 'w'), str(repo)], check=True)
    whl = next((tmp_path / 'w').glob('dynaguide-*.whl'))
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(tmp_path / 'site'), str(whl)], check=True)
    code = ("import sys, numpy as np, dynaguide; assert dynaguide.__file__.startswith(sys.argv[1]), dynaguide.__file__\n"
            "r = dynaguide.segment(np.random.default_rng(0).random((20, 24, 3)), max_iter=2, p=8, threads=1)\n"
            "assert r.labels.shape == (20, 24)\n"
            "import dynaguide.cli\n"
            "bad = [m for m in ('fastcore', 'nbdev', 'execnb') if m in sys.modules]; assert not bad, bad\nprint('ok')")
    env = {**os.environ, 'PYTHONPATH': str(tmp_path / 'site')}
    out = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'site')], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and 'ok' in out.stdout, out.stderr
