"""The VOC2012 and COCO-Stuff-27 paper notebooks under papermill, on small synthetic datasets in the official layouts (the real data
are not on this machine): the smoke profile writes each table with the expected rows; a missing dataset stops with a message naming it."""
import json
from pathlib import Path
import numpy as np, pytest
from PIL import Image

pm = pytest.importorskip('papermill')
PAPER = Path(__file__).resolve().parents[1] / 'nbs' / 'paper'
VOC_IDS = ('2007_000033', '2007_000042', '2007_000061')
COCO_IDS = ('000000000139', '000000000285', '000000000632')


def picture(rng, h, w, k):
    "An RGB picture with a coloured background and box `k` of another colour, plus noise (uint8)."
    img = np.empty((h, w, 3)); img[:] = rng.uniform(0.1, 0.5, 3)
    y0, x0 = 6 + 2 * k, 8 + 3 * k
    img[y0:y0 + h // 2, x0:x0 + w // 2] = rng.uniform(0.6, 0.9, 3)
    return (np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1) * 255).astype(np.uint8), (y0, x0)


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    "VOCdevkit/VOC2012 with JPEGImages, SegmentationObject and SegmentationClass palette PNGs (void 255 around objects) and val.txt."
    from dynaguide.data import _save_palette_png
    root = tmp_path_factory.mktemp('voc'); base = root / 'VOCdevkit' / 'VOC2012'
    (base / 'JPEGImages').mkdir(parents=True); (base / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    rng = np.random.default_rng(0); h, w = 36, 48
    for k, i in enumerate(VOC_IDS):
        img, (y0, x0) = picture(rng, h, w, k)
        Image.fromarray(img).save(base / 'JPEGImages' / f'{i}.jpg', quality=95)
        obj = np.zeros((h, w), np.uint8)
        obj[y0 - 1:y0 + h // 2 + 1, x0 - 1:x0 + w // 2 + 1] = 255     # void band along the object's outline, as in VOC
        obj[y0:y0 + h // 2, x0:x0 + w // 2] = 1
        obj[-6:, :8] = 2 if k != 1 else 0                             # a second small instance on two of the images
        cls = np.where(obj == 255, 255, np.where(obj == 1, 15, np.where(obj == 2, 12, 0))).astype(np.uint8)   # person, dog
        _save_palette_png(base / 'SegmentationObject' / f'{i}.png', obj); _save_palette_png(base / 'SegmentationClass' / f'{i}.png', cls)
    (base / 'ImageSets' / 'Segmentation' / 'val.txt').write_text(''.join(f'{i}\n' for i in VOC_IDS))
    return root


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    "cocostuff/ with images/val2017, stuffthingmaps_trainval2017/val2017 (grayscale PNGs of fine ids, 255 unlabelled) and the curated list."
    from dynaguide.data import _fine_to_coarse_lut, COCOSTUFF27_CLASSES
    lut = _fine_to_coarse_lut()
    fine = {name: int(np.flatnonzero(lut == COCOSTUFF27_CLASSES.index(name))[0]) for name in ('person', 'sky', 'ground', 'plant')}
    root = tmp_path_factory.mktemp('coco'); base = root / 'cocostuff'
    for d in ('images/val2017', 'stuffthingmaps_trainval2017/val2017', 'curated/val2017'): (base / d).mkdir(parents=True)
    rng = np.random.default_rng(1); h, w = 40, 44
    for k, i in enumerate(COCO_IDS):
        img, (y0, x0) = picture(rng, h, w, k)
        img[: h // 3] = (120, 170, 230)                                # a sky band on top
        Image.fromarray(img).save(base / 'images' / 'val2017' / f'{i}.jpg', quality=95)
        lab = np.full((h, w), fine['ground'], np.uint8); lab[: h // 3] = fine['sky']
        lab[y0:y0 + h // 2, x0:x0 + w // 2] = fine['person']; lab[-4:, -6:] = fine['plant'] if k else 255
        Image.fromarray(lab, 'L').save(base / 'stuffthingmaps_trainval2017' / 'val2017' / f'{i}.png')
    (base / 'curated' / 'val2017' / 'Coco164kFull_Stuff_Coarse_7.txt').write_text(''.join(f'{i}\n' for i in COCO_IDS))
    return root


def execute(name, tmp_path, **params):
    "Run nbs/paper/<name>.ipynb with papermill; the executed notebook's printed text."
    out = tmp_path / f'{name}.ipynb'
    pm.execute_notebook(str(PAPER / f'{name}.ipynb'), str(out), parameters=params, cwd=str(PAPER), progress_bar=False, log_output=False)
    nb = json.loads(out.read_text())
    return ''.join(''.join(o.get('text', '')) for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []))


def smoke_table(name, tmp_path, root):
    "Run nbs/paper/<name>.ipynb's smoke profile on `root` and check what every table has; the output folder, our rows, the quoted rows."
    res = tmp_path / 'res'
    execute(name, tmp_path, profile='smoke', root=str(root), out_dir=str(res))
    for ext in ('csv', 'md', 'json'): assert (res / 'tables' / f'{name}_smoke.{ext}').exists(), ext
    assert (res / 'figures' / f'{name}_smoke.png').exists()
    meta = json.loads((res / 'tables' / f'{name}_smoke.json').read_text())
    assert meta['params']['profile'] == 'smoke' and meta['not_run'] == [] and meta['skipped_guidance'] == {}
    ours = [r for r in meta['rows'] if r['kind'] != 'quoted']
    quoted = [r for r in meta['rows'] if r['kind'] == 'quoted']
    assert all('quoted from the DynaGuide paper' in r['note'] and r['method'].endswith('(quoted)') for r in quoted)
    assert all('quoted' not in r['note'] and 'profile smoke' in r['note'] and r['settings'] for r in ours)
    return res, ours, quoted


def test_voc_smoke_under_papermill(tmp_path, voc_root):
    res, ours, quoted = smoke_table('voc', tmp_path, voc_root)
    names = {r['method'] for r in ours}
    assert {'felzenszwalb alone', 'slic alone', 'DynaGuide + felzenszwalb', 'DynaGuide + slic', 'DynaGuide + felzenszwalb, beta 60',
            'kanezaki', 'dynaseg-scf', 'dynaseg-fsf'} <= names, names
    assert all(0 <= r['miou'] <= 1 and 0 <= r['miou_per_image'] <= 1 and 0 <= r['miou_nosplit'] <= 1 for r in ours)
    full = [r for r in ours if 'ablation subset' not in r['note']]
    assert all(r['n_images'] == 2 and r['gt_segments'] == 5 for r in full)   # background, object and a second instance; the second image has no second instance
    for r in ours:   # every DynaGuide row is compared with its own guidance alone on the same images
        if r['kind'] == 'segment' and r['guidance']: assert abs(r['gain_over_guidance'] - (r['miou'] - r['guidance_miou'])) < 1e-12
    assert {r['method']: r['miou'] for r in quoted} == {'Kim & Kanezaki (quoted)': .352, 'DiffSeg alone (quoted)': .443,
        'DynaSeg-SCF (quoted)': .396, 'DynaGuide + DiffSeg (quoted)': .474, 'DynaGuide + SegFormer (quoted)': .481}
    md = (res / 'tables' / 'voc_smoke.md').read_text()
    assert 'DynaGuide + felzenszwalb' in md and 'Kim & Kanezaki (quoted)' in md
    from dynaguide.tables import VOC_TABLE
    assert md.splitlines()[2] == '| ' + ' | '.join(VOC_TABLE.md_columns) + ' |'   # a readable table; the CSV has every column


def test_coco_smoke_under_papermill(tmp_path, coco_root):
    _, ours, quoted = smoke_table('coco', tmp_path, coco_root)
    names = {r['method'] for r in ours}
    assert {'felzenszwalb alone', 'slic alone', 'DynaGuide + felzenszwalb', 'DynaGuide + slic', 'kanezaki', 'dynaseg-scf', 'dynaseg-fsf'} <= names
    for m in names:   # both reductions for every method, each saying which of the paper's rows it matches
        got = {r['reduction']: r for r in ours if r['method'] == m}
        assert set(got) == {'per-image (DynaSeg)', 'summed (DiffSeg)'}, (m, set(got))
        assert "paper's DynaSeg-FSF row" in got['per-image (DynaSeg)']['note'] and "paper's DiffSeg row" in got['summed (DiffSeg)']['note']
    cols = ('coco_all_miou', 'coco_stuff_miou', 'coco_all_acc', 'coco_stuff_acc')
    assert all(0 <= r[c] <= 1 for r in ours for c in cols)
    assert all(r['n_images'] == 2 for r in ours if 'ablation subset' not in r['note'])   # the smoke profile's 2 of the 3 listed
    for r in ours:
        if r['kind'] == 'segment' and r['guidance']: assert abs(r['gain_over_guidance'] - (r['coco_all_miou'] - r['guidance_all_miou'])) < 1e-12
    q = {r['method']: r for r in quoted}
    assert q['DynaGuide + SegFormer (quoted)']['coco_all_miou'] == pytest.approx(.5238) and q['DiffSeg alone (quoted)']['coco_all_miou'] is None
    assert all(r['reduction'] for r in quoted)


@pytest.mark.parametrize('name,what', [('voc', 'VOCdevkit/VOC2012'), ('coco', 'cocostuff/images/val2017')])
def test_missing_dataset_gives_a_clear_message(tmp_path, name, what):
    "Smoke: the message is printed and nothing is run; any other profile stops at the data cell with the message as its error."
    empty = tmp_path / 'empty'; empty.mkdir()
    text = execute(name, tmp_path, profile='smoke', root=str(empty), out_dir=str(tmp_path / 'res'))
    assert 'is missing or not usable' in text and what in text and 'nothing to do' in text
    assert not (tmp_path / 'res' / 'tables').exists() and not (tmp_path / 'res' / 'cache').exists()
    with pytest.raises(pm.PapermillExecutionError) as e:
        execute(name, tmp_path, profile='cpu', root=str(empty), out_dir=str(tmp_path / 'res2'))
    assert e.value.ename == 'DatasetError' and 'is missing or not usable' in e.value.evalue and what in e.value.evalue
    assert not (tmp_path / 'res2').exists()
