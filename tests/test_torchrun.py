"""`dynaguide segment` under `torchrun`: one process per rank sharing a folder of images.

The ranks of a run give the label maps of one plain process, each image is written by one rank, rank 0 writes `run.json` once at
the end, and a rank killed mid-run loses nothing: the same command again redoes only the images without a label map."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dynaguide import cli
from dynaguide.core import TMP_TAG, load_labels, png_meta

TORCHRUN = Path(sys.executable).parent / 'torchrun'
pytestmark = pytest.mark.skipif(not TORCHRUN.exists() or not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason=f'torchrun not found at {TORCHRUN} (or torch.distributed without gloo)')
# `--set p=8`, not `--p 8`: torchrun's own parser would take `--p` for an abbreviation of its `--print-completion`
FAST = ['--profile', 'paper', '--max-iter', '3', '--set', 'p=8', '--max-side', '48', '--set', 'threads=1', '--set', 'precision=fp32', '--quiet']
SLOW = [*FAST[:2], '--max-iter', '200', '--set', 'min_labels=1', *FAST[4:]]   # ~1 s an image: time to kill a rank mid-run
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): ENV.pop(k, None)


def images(d: Path, n: int = 6, h: int = 24, w: int = 32) -> Path:
    "`n` small random images in `d`."
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n): Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(d / f'{i}.png')
    return d


def torchrun(*args, nproc: int = 2, **kw) -> subprocess.Popen:
    "`torchrun --standalone --nproc_per_node nproc -m dynaguide *args`, started in its own process group."
    return subprocess.Popen(['nice', '-n', '10', str(TORCHRUN), '--standalone', '--nproc_per_node', str(nproc), '-m', 'dynaguide', *map(str, args)],
                            env=ENV, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[str, str]:
    "Wait for `proc`; its output. Its whole process group is killed if it is still running."
    try: return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait()


def label_maps(out: Path) -> dict[str, np.ndarray]:
    "Our label maps in `out`: name -> array."
    return {p.name: load_labels(p) for p in sorted(out.glob('*.png')) if (png_meta(p) or {}).get('kind') == 'labels'}


def rank_records(out: Path, world: int = 2) -> list[dict]:
    return [json.loads((out / cli.rank_record(r)).read_text()) for r in range(world)]


def plain(inp: Path, out: Path, args) -> dict[str, np.ndarray]:
    "The label maps of one plain process (`dynaguide segment` in this process, no launcher)."
    assert cli.main(['segment', str(inp), '--out', str(out), *args]) == 0
    return label_maps(out)


def test_two_ranks_match_one_process_and_write_run_json_once(tmp_path):
    inp = images(tmp_path / 'in')
    ref = plain(inp, tmp_path / 'ref', FAST)
    out = tmp_path / 'o'
    proc = torchrun('segment', inp, '--out', out, *FAST)
    seen = set()
    while proc.poll() is None:                  # run.json appears only when every rank has finished, and is written once
        try: st = (out / 'run.json').stat()
        except FileNotFoundError: time.sleep(0.02); continue
        seen.add((st.st_ino, st.st_mtime_ns))
        assert all(r['status'] == 'complete' for r in rank_records(out))
        time.sleep(0.02)
    so, se = finish(proc)
    assert proc.returncode == 0, se[-3000:]
    assert len(seen) <= 1
    maps = label_maps(out)
    assert set(maps) == set(ref) == {f'{i}.png' for i in range(6)}
    for n in ref: assert maps[n].dtype == ref[n].dtype and maps[n].tobytes() == ref[n].tobytes(), n   # byte-equal arrays
    assert {png_meta(out / n)['settings_hash'] for n in maps} == {png_meta(tmp_path / 'ref' / n)['settings_hash'] for n in ref}
    run = json.loads((out / 'run.json').read_text())
    assert (run['status'], run['failed'], run['n_inputs'], run['world_size']) == ('complete', [], 6, 2)
    assert sorted(i['labels'] for i in run['images']) == sorted(ref) and not any(i.get('resumed') for i in run['images'])
    assert (out / 'run.json').stat().st_mtime_ns >= max((out / cli.rank_record(r)).stat().st_mtime_ns for r in range(2))
    # two ranks never write the same file: each rank its own record, each image one rank
    recs = rank_records(out)
    assert [(r['rank'], r['status']) for r in recs] == [(0, 'complete'), (1, 'complete')]
    assert sum(r['n_inputs'] for r in recs) == 6 and all(r['n_inputs'] == len(r['images']) for r in recs)   # images claimed one by one
    done = [{Path(i['labels']).name for i in r['images']} for r in recs]
    assert not done[0] & done[1] and done[0] | done[1] == set(ref)
    assert [r['pid'] for r in run['ranks']] == [r['pid'] for r in recs] and recs[0]['pid'] != recs[1]['pid']
    assert not list(out.glob(f'.*{TMP_TAG}'))
    # the same command again: everything resumed, nothing rewritten
    before = {p.name: p.stat().st_mtime_ns for p in out.glob('*.png')}
    proc = torchrun('segment', inp, '--out', out, *FAST); so, se = finish(proc)
    assert proc.returncode == 0 and '6 already done' in so, se[-3000:]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob('*.png')} == before
    assert all(i['resumed'] for i in json.loads((out / 'run.json').read_text())['images'])
    # other settings in the same folder: rank 0 refuses for every rank, nothing is written
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = torchrun('segment', inp, '--out', out, *FAST, '--seed', '1'); so, se = finish(proc)
    assert proc.returncode != 0 and 'other settings' in se and 'rank 0: ' in se
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files


def test_killed_rank_then_relaunch_redoes_only_unfinished(tmp_path):
    inp = images(tmp_path / 'in')
    out = tmp_path / 'o'
    proc = torchrun('segment', inp, '--out', out, *SLOW)
    t0, killed, refused = time.time(), None, None
    try:
        while proc.poll() is None and time.time() - t0 < 300:
            try: r1 = json.loads((out / cli.rank_record(1)).read_text())
            except (FileNotFoundError, ValueError): time.sleep(0.02); continue
            if r1['images'] and refused is None:        # a different run is refused while the ranks of this one share the lock
                refused = cli.main(['segment', str(inp), '--out', str(out), *SLOW]); continue
            if r1['images'] and r1['status'] == 'running':
                os.kill(r1['pid'], signal.SIGKILL); killed = r1; break
            time.sleep(0.02)
        so, se = finish(proc, timeout=300)
    finally:
        if proc.poll() is None: os.killpg(proc.pid, signal.SIGKILL)
    assert killed is not None, 'the run ended before a rank could be killed'
    assert refused == 2
    assert proc.returncode != 0
    assert not (out / 'run.json').exists()          # the run did not finish: no run record claims it did
    first = label_maps(out)
    recorded = {i['labels'] for r in rank_records(out) for i in r['images']}
    assert 1 <= len(first) < 6 and recorded <= set(first)
    assert rank_records(out)[1]['status'] == 'running'
    before = {n: ((out / n).stat().st_mtime_ns, (out / n).read_bytes()) for n in first}

    proc = torchrun('segment', inp, '--out', out, *SLOW); so, se = finish(proc)   # the same command again
    assert proc.returncode == 0, se[-3000:]
    maps = label_maps(out)
    assert set(maps) == {f'{i}.png' for i in range(6)}
    assert {n: ((out / n).stat().st_mtime_ns, (out / n).read_bytes()) for n in first} == before   # finished images untouched
    run = json.loads((out / 'run.json').read_text())
    assert (run['status'], run['failed'], len(run['images'])) == ('complete', [], 6)
    assert {i['labels'] for i in run['images'] if i.get('resumed')} == set(first)
    recs = rank_records(out)
    redone = [{i['labels'] for i in r['images'] if not i.get('resumed')} for r in recs]
    assert not redone[0] & redone[1] and redone[0] | redone[1] == set(maps) - set(first)   # only the unfinished, each once
    assert not list(out.glob(f'.*{TMP_TAG}'))
    ref = plain(inp, tmp_path / 'ref', SLOW)                          # and the maps are those of one uninterrupted process
    for n in ref: assert maps[n].tobytes() == ref[n].tobytes(), n


def test_rank_share_and_launcher_errors(tmp_path, monkeypatch, capsys):
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): monkeypatch.delenv(k, raising=False)
    assert cli.rank_share([1, 2, 3]) == ([1, 2, 3], (0, 1))
    shares = []
    for r in range(3):
        monkeypatch.setenv('RANK', str(r)); monkeypatch.setenv('WORLD_SIZE', '3')
        shares.append(cli.rank_share(range(10)))
    assert [s for s, _ in shares] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]] and [rw for _, rw in shares] == [(0, 3), (1, 3), (2, 3)]
    images(tmp_path / 'in', 1)
    monkeypatch.setenv('RANK', '0'); monkeypatch.setenv('WORLD_SIZE', '2')   # two ranks but no rendezvous: refused, nothing written
    assert cli.main(['segment', str(tmp_path / 'in'), '--out', str(tmp_path / 'o'), *FAST]) == 2
    assert 'torchrun' in capsys.readouterr().err and not (tmp_path / 'o').exists()


def test_python_m_dynaguide():
    r = subprocess.run([sys.executable, '-m', 'dynaguide', 'segment', '--help'], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0 and 'usage: dynaguide segment' in r.stdout
