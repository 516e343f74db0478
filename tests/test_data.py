"Dataset readers: synthetic fixtures in each official layout, and the real data under ../shared/data when present."
import json, os

import numpy as np
import pytest
from PIL import Image

from dynaguide import data as D
from dynaguide.core import ImageReadError

from conftest import REAL, need


def jpg(path, h, w, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


# ---------------------------------------------------------------- BSDS500
@pytest.fixture
def bsds(tmp_path):
    b = tmp_path/'BSDS500'
    seg = np.ones((5, 7), int); seg[:, 3:] = 2
    for k, n in (('300', 2), ('20', 1), ('100', 3)):
        D._write_bsds_mat(b/'groundTruth'/'val'/f'{k}.mat', [seg + j * (np.arange(7) > 5) for j in range(n)])
        jpg(b/'images'/'val'/f'{k}.jpg', 5, 7)
    return tmp_path


def test_bsds_layout_order_and_lazy_items(bsds):
    ds = D.BSDS500(bsds, 'val')
    assert ds.ids == ['100', '20', '300'] and len(ds) == 3          # sorted file names
    assert [len(it.segmentations) for it in ds] == [3, 1, 2]
    it = ds['300']
    assert it.gt_path.name == '300.mat' and it.image_path.name == '300.jpg'
    assert it.segmentations[1].dtype == np.int64 and it.segmentations[1].max() == 3 and it.segmentations[1].min() == 1
    assert ds[-1].id == '300' and ds.index('20') == 1 and '20' in ds
    assert it.image().shape == (5, 7, 3)
    assert D.BSDS500(bsds/'BSDS500', 'val').ids == ds.ids             # root = BSDS500 itself
    with pytest.raises(KeyError, match='nope'): ds['nope']
    with pytest.raises(IndexError): ds[3]
    with pytest.raises(ValueError, match='split'): D.BSDS500(bsds, 'dev')


def test_bsds_errors_name_file_and_expectation(bsds, tmp_path):
    with pytest.raises(FileNotFoundError, match='BSDS500/images/test'): D.BSDS500(bsds, 'test')
    with pytest.raises(FileNotFoundError, match='DYNAGUIDE_DATA'):
        old = os.environ.pop('DYNAGUIDE_DATA', None)
        try: D.BSDS500(None, 'val')
        finally:
            if old is not None: os.environ['DYNAGUIDE_DATA'] = old
    ds = D.BSDS500(bsds, 'val')
    D._write_bsds_mat(bsds/'BSDS500/groundTruth/val/20.mat', [np.ones((7, 5), int)])
    with pytest.raises(D.DatasetError, match=r'20\.mat.*7x5.*5x7'): ds['20']
    (bsds/'BSDS500/groundTruth/val/20.mat').write_text('not a mat file')
    with pytest.raises(D.DatasetError, match=r'20\.mat'): ds['20']
    (bsds/'BSDS500/images/val/20.jpg').write_bytes(b'broken')
    D._write_bsds_mat(bsds/'BSDS500/groundTruth/val/20.mat', [np.ones((5, 7), int)])
    with pytest.raises(ImageReadError, match=r'20\.jpg'): ds['20']
    (bsds/'BSDS500/groundTruth/val/100.mat').unlink()
    with pytest.raises(FileNotFoundError, match=r'100\.mat'): D.BSDS500(bsds, 'val')


def test_bsds_rejects_labels_from_zero(tmp_path):
    D._write_bsds_mat(tmp_path/'x.mat', [np.zeros((3, 3), int)])
    with pytest.raises(D.DatasetError, match='start at 1'): D.read_bsds_mat(tmp_path/'x.mat')


def test_bsds_real_counts():
    root = need('BSDS500')
    ds = D.BSDS500(root, 'test')
    assert len(ds) == 200
    assert sum(len(it.segmentations) for it in ds) == 1063        # every item also checks its GT size against the image
    assert len(D.BSDS500(root, 'train')) == 200 and len(D.BSDS500(root, 'val')) == 100


# ---------------------------------------------------------------- saliency
@pytest.mark.parametrize('key', ['ecssd', 'duts-te', 'duts-tr', 'dut-omron'])
def test_saliency_official_layouts(tmp_path, key):
    top, im, gt = D.SALIENCY_LAYOUTS[key]
    for k in ('b', 'a'):
        jpg(tmp_path/top/im/f'{k}.jpg', 3, 4)
        (tmp_path/top/gt).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.array([[0, 127, 128, 255]] * 3, np.uint8)).save(tmp_path/top/gt/f'{k}.png')
    ds = D.saliency_dataset(key, tmp_path)
    assert ds.ids == ['a', 'b'] and ds.name == top
    assert ds['a'].mask.tolist() == [[False, False, True, True]] * 3
    assert D.saliency_dataset(key, tmp_path/top).ids == ['a', 'b']


def test_saliency_mask_modes_and_errors(tmp_path):
    im, gt = tmp_path/'im', tmp_path/'gt'
    m = np.array([[0, 100, 200]], np.uint8)
    jpg(im/'rgb.jpg', 1, 3); jpg(im/'g16.png', 1, 3); jpg(im/'pal.jpg', 1, 3)
    gt.mkdir()
    Image.fromarray(np.dstack([m, 255 - m, 255 - m])).save(gt/'rgb.png')           # channel 0 decides
    Image.fromarray(m.astype(np.uint16) * 257).save(gt/'g16.png')
    p = Image.fromarray(np.array([[0, 1, 2]], np.uint8), 'P'); p.putpalette([0, 0, 0, 100, 100, 100, 200, 200, 200] + [0] * 759); p.save(gt/'pal.png')
    ds = D.SaliencyPairs(im, gt)
    for k in ds.ids: assert ds[k].mask.tolist() == [[False, False, True]], k
    (gt/'rgb.png').unlink()
    with pytest.raises(FileNotFoundError, match=r"\['rgb'\]"): D.SaliencyPairs(im, gt)
    Image.fromarray(np.zeros((2, 3), np.uint8)).save(gt/'rgb.png')
    with pytest.raises(D.DatasetError, match=r'rgb\.png.*2x3.*1x3'): D.SaliencyPairs(im, gt)['rgb']
    Image.fromarray(np.zeros((1, 3), np.uint8)).save(gt/'extra.png')
    with pytest.raises(FileNotFoundError, match='no image for 1 masks'): D.SaliencyPairs(im, gt)
    with pytest.raises(ValueError, match='unknown saliency dataset'): D.saliency_dataset('pascal-s', tmp_path)
    with pytest.raises(ValueError, match='image_dir and mask_dir'): D.saliency_dataset('folder')


def test_saliency_real_counts():
    root = need('ECSSD')
    e = D.ECSSD(root)
    assert len(e) == 1000 and e.ids[0] == '0001' and e.ids[-1] == '1000'
    it = e['0001']; assert it.mask.shape == it.image().shape[:2] and it.mask.any()
    if (REAL/'DUTS-TE').is_dir(): assert len(D.DUTS(root, 'te')) == 502
    if (REAL/'DUTS-TR').is_dir(): assert len(D.DUTS(root, 'tr')) == 2111


# ---------------------------------------------------------------- VOC
XML = """<annotation><size><width>{w}</width><height>{h}</height><depth>3</depth></size>{objs}</annotation>"""
OBJ = """<object><name>{n}</name><truncated>{t}</truncated><difficult>{d}</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"""


@pytest.fixture
def voc(tmp_path):
    for year in ('2007', '2012'):
        v = tmp_path/'VOCdevkit'/f'VOC{year}'
        ids = ['000005', '000001', '000003']
        for i, k in enumerate(ids):
            jpg(v/'JPEGImages'/f'{k}.jpg', 6, 8, i)
            obj = np.zeros((6, 8), int); obj[1:4, 1:4] = 1; obj[4:, 5:] = 2; obj[0] = 255
            D._save_palette_png(v/'SegmentationObject'/f'{k}.png', obj)
            D._save_palette_png(v/'SegmentationClass'/f'{k}.png', np.where(obj == 2, 15, obj))
            objs = OBJ.format(n='dog', t=1, d=0, x0=2, y0=2, x1=4, y1=4) + OBJ.format(n='person', t=0, d=1, x0=6, y0=5, x1=8, y1=6)
            (v/'Annotations').mkdir(exist_ok=True); (v/'Annotations'/f'{k}.xml').write_text(XML.format(w=8, h=6, objs=objs))
        for s in ('Segmentation', 'Main'):
            (v/'ImageSets'/s).mkdir(parents=True, exist_ok=True)
            (v/'ImageSets'/s/'val.txt').write_text('\n'.join(ids) + '\n'); (v/'ImageSets'/s/'trainval.txt').write_text('\n'.join(ids[:2]) + '\n')
    return tmp_path


def test_voc_segmentation(voc):
    ds = D.VOCSegmentation(voc, 'val')
    assert ds.ids == ['000005', '000001', '000003']                   # split-file order, not sorted
    it = ds['000001']
    assert set(np.unique(it.objects)) == {0, 1, 2, 255} and set(np.unique(it.classes)) == {0, 1, 15, 255}
    assert D.VOCSegmentation(voc/'VOCdevkit', 'val').ids == ds.ids == D.VOCSegmentation(voc/'VOCdevkit'/'VOC2012', 'val').ids
    (voc/'VOCdevkit/VOC2012/SegmentationObject/000003.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'000003\.png'): ds['000003']
    with pytest.raises(FileNotFoundError, match='test.txt'): D.VOCSegmentation(voc, 'test')


def test_voc_detection_keeps_difficult_and_truncated(voc):
    for year in ('2007', '2012'):
        ds = D.VOCDetection(voc, year, 'trainval')
        assert ds.ids == ['000005', '000001']
        b = ds['000001']
        assert b.boxes.tolist() == [[1, 1, 4, 4], [5, 4, 8, 6]] and b.labels == ['dog', 'person']
        assert b.truncated.tolist() == [True, False] and b.difficult.tolist() == [False, True] and b.size == (6, 8)
    (voc/'VOCdevkit/VOC2007/Annotations/000005.xml').write_text('<annotation><size></size>')
    with pytest.raises(D.DatasetError, match=r'000005\.xml'): D.VOCDetection(voc, '2007')['000005']


# ---------------------------------------------------------------- COCO
def test_cocostuff27_layouts_and_mapping(tmp_path):
    c = tmp_path/'cocostuff'
    fine = np.array([[0, 1, 91, 255], [156, 181, 9, 255]], np.uint8)     # person, bicycle, banner, -, sky, wood, traffic light
    for k in ('000000000632', '000000000139'):
        jpg(c/'images/val2017'/f'{k}.jpg', 2, 4)
        (c/'annotations/val2017').mkdir(parents=True, exist_ok=True); Image.fromarray(fine).save(c/'annotations/val2017'/f'{k}.png')
    (c/'curated/val2017').mkdir(parents=True)
    (c/'curated/val2017/Coco164kFull_Stuff_Coarse_7.txt').write_text('000000000632\n000000000139\n')
    ds = D.COCOStuff27(tmp_path)
    assert ds.ids == ['000000000632', '000000000139']
    assert ds['000000000139'].labels.tolist() == [[9, 11, 17, -1], [23, 24, 8, -1]]
    lut = D.COCOSTUFF_FINE_TO_COARSE
    assert sorted(set(lut[:91])) == list(range(12)) and sorted(set(lut[91:182])) == list(range(12, 27))
    assert len(D.COCOSTUFF27_CLASSES) == 27 and D.COCOSTUFF27_STUFF == tuple(range(12, 27))
    (c/'curated/val2017/Coco164kFull_Stuff_Coarse_7.txt').unlink()
    with pytest.raises(FileNotFoundError, match='curated image list'): D.COCOStuff27(tmp_path)


@pytest.mark.parametrize('use_pycocotools', [False, True])
def test_coco20k(tmp_path, use_pycocotools):
    if use_pycocotools: pytest.importorskip('pycocotools')
    c = tmp_path/'COCO'
    imgs = [{'id': i, 'file_name': f'COCO_train2014_{i:012d}.jpg', 'height': 6, 'width': 8} for i in (3, 7, 11)]
    anns = [{'id': 1, 'image_id': 7, 'bbox': [0.4, 1.6, 2.0, 3.0], 'iscrowd': 0, 'category_id': 2, 'area': 6},
            {'id': 2, 'image_id': 7, 'bbox': [0, 0, 8, 6], 'iscrowd': 1, 'category_id': 1, 'area': 48},
            {'id': 3, 'image_id': 3, 'bbox': [1, 1, 1, 1], 'iscrowd': 0, 'category_id': 1, 'area': 1},
            {'id': 4, 'image_id': 3, 'bbox': [2, 2, 3, 3], 'iscrowd': 0, 'category_id': 5, 'area': 9}]
    (c/'annotations').mkdir(parents=True)
    (c/'annotations/instances_train2014.json').write_text(json.dumps({'images': imgs, 'annotations': anns, 'categories': []}))
    for im in imgs: jpg(c/'images/train2014'/im['file_name'], 6, 8)
    (tmp_path/'coco_20k_filenames.txt').write_text('train2014/COCO_train2014_000000000007.jpg\ntrain2014/COCO_train2014_000000000003.jpg\n')
    ds = D.COCO20k(tmp_path, use_pycocotools=use_pycocotools)
    assert ds.used_pycocotools == use_pycocotools
    assert ds.ids == ['COCO_train2014_000000000007', 'COCO_train2014_000000000003']
    assert ds[0].boxes.tolist() == [[0, 2, 2, 5]]                       # crowd dropped, rounded as LOST does
    assert ds[1].boxes.tolist() == [[1, 1, 2, 2], [2, 2, 5, 5]] and ds[1].labels == [1, 5]
    with pytest.raises(FileNotFoundError, match='instances_train2014.json'): D.COCO20k(tmp_path, annotations=tmp_path/'none.json')
