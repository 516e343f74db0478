"""`make lab`: JupyterLab from the venv, serving nbs/, with the venv's Python registered as the kernel `dynaguide`. The test
registers that kernel the way the Makefile does (into a temporary prefix instead of the venv), starts `jupyter lab` headless on
a free local port with a token, checks the server, the lab page, the notebook folder and the kernel (it runs `import dynaguide` with the venv's Python), and stops it."""
import json, os, secrets, signal, socket, subprocess, sys, time
import urllib.error, urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def get(url: str, method: str = 'GET', data: dict | None = None, timeout: float = 10):
    req = urllib.request.Request(url, method=method, data=None if data is None else json.dumps(data).encode(),
                                 headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: return r.status, r.read().decode()
    except urllib.error.HTTPError as e: return e.code, ''

def run_code(ws_url: str, code: str, timeout: float = 120) -> str:
    "Execute `code` in a running kernel through the server's websocket; return what it printed (raise on an error)."
    import uuid, websocket
    ws = websocket.create_connection(ws_url, timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps(dict(header=dict(msg_id=msg_id, msg_type='execute_request', username='test', session=uuid.uuid4().hex,
                                            date='', version='5.3'), parent_header={}, metadata={}, channel='shell', buffers=[],
                                content=dict(code=code, silent=False, store_history=False, user_expressions={}, allow_stdin=False))))
        out, t0 = [], time.time()
        while time.time() - t0 < timeout:
            m = json.loads(ws.recv())
            if m.get('parent_header', {}).get('msg_id') != msg_id: continue
            if m['msg_type'] == 'stream': out.append(m['content']['text'])
            if m['msg_type'] == 'error': raise AssertionError('\n'.join(m['content']['traceback'])[-2000:])
            if m['msg_type'] == 'status' and m['content']['execution_state'] == 'idle': return ''.join(out)
        raise AssertionError(f'no answer from the kernel within {timeout} s')
    finally: ws.close()

def test_makefile_lab_target():
    mk = (REPO / 'Makefile').read_text()
    assert 'ipykernel install --sys-prefix --name dynaguide' in mk and 'jupyter lab --notebook-dir=nbs' in mk
    assert 'default_kernel_name=dynaguide' in mk

def test_jupyter_lab_serves_the_notebooks_with_the_dynaguide_kernel(tmp_path):
    if not (BIN / 'jupyter-lab').exists(): pytest.skip(f'jupyterlab is not installed in {BIN} (pip install -e ".[dev]")')
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(tmp_path / 'config'), 'JUPYTER_RUNTIME_DIR': str(tmp_path / 'runtime'),
           'JUPYTER_DATA_DIR': str(tmp_path / 'data'), 'JUPYTER_PATH': str(tmp_path / 'prefix' / 'share' / 'jupyter'),
           'HOME': str(tmp_path / 'home')}
    (tmp_path / 'home').mkdir()
    subprocess.run([sys.executable, '-m', 'ipykernel', 'install', '--prefix', str(tmp_path / 'prefix'), '--name', 'dynaguide',
                    '--display-name', 'Python (dynaguide)'], env=env, check=True, capture_output=True)
    port, token = free_port(), secrets.token_hex(16)
    base = f'http://127.0.0.1:{port}'
    log = open(tmp_path / 'lab.log', 'w')
    p = subprocess.Popen([str(BIN / 'jupyter'), 'lab', '--no-browser', f'--port={port}', '--ServerApp.port_retries=0',
                          '--ServerApp.ip=127.0.0.1', f'--IdentityProvider.token={token}', f'--notebook-dir={REPO / "nbs"}',
                          '--MappingKernelManager.default_kernel_name=dynaguide', '--allow-root'],
                         env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = time.time()
        while True:
            assert p.poll() is None, f'jupyter lab exited with {p.returncode}:\n' + (tmp_path / 'lab.log').read_text()[-3000:]
            try:
                if get(f'{base}/api/status?token={token}', timeout=2)[0] == 200: break
            except OSError: pass
            assert time.time() - t0 < 120, 'jupyter lab did not answer within 120 s:\n' + (tmp_path / 'lab.log').read_text()[-3000:]
            time.sleep(.5)
        status, page = get(f'{base}/lab?token={token}')
        assert status == 200 and 'JupyterLab' in page                          # the lab front end, not only a bare server
        assert get(f'{base}/api/contents')[0] == 403                            # without the token: refused
        status, body = get(f'{base}/api/contents?token={token}')
        names = {c['name'] for c in json.loads(body)['content']}
        assert status == 200 and {'00_core.ipynb', '17_figures.ipynb', 'paper'} <= names   # rooted at nbs/
        specs = json.loads(get(f'{base}/api/kernelspecs?token={token}')[1])
        assert specs['default'] == 'dynaguide'
        argv = specs['kernelspecs']['dynaguide']['spec']['argv']
        assert Path(argv[0]) == Path(sys.executable), argv                     # the project's venv Python
        status, body = get(f'{base}/api/kernels?token={token}', 'POST', dict(name='dynaguide'))
        assert status == 201, status
        kid = json.loads(body)['id']
        out = run_code(f'ws://127.0.0.1:{port}/api/kernels/{kid}/channels?token={token}',
                       'import sys, dynaguide; print(sys.executable, dynaguide.segment.__module__)')
        assert out.split() == [sys.executable, 'dynaguide.segment'], out       # the kernel runs the venv and imports the package
        assert get(f'{base}/api/kernels/{kid}?token={token}', 'DELETE')[0] == 204
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try: p.wait(20)
        except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait(10)
        log.close()
    assert p.returncode is not None
