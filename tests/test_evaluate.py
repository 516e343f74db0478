"The evaluation loop and the `eval` subcommands, end to end on synthetic datasets and on the real data when present."
import argparse, json

import numpy as np
import pytest
from PIL import Image

from dynaguide import data as D, metrics as M
from dynaguide.core import save_labels
from dynaguide.evaluate import add_eval_parser, load_label_map, load_soft_mask

from conftest import REAL, need


def parser():
    ap = argparse.ArgumentParser(prog='dynaguide')
    add_eval_parser(ap.add_subparsers(dest='command', required=True))
    return ap


def run(argv, capsys):
    a = parser().parse_args(argv)
    code = a.func(a)
    out = capsys.readouterr()
    return code, out.out, out.err


def jpg(path, h, w):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)


def test_eval_bsds500_cli_writes_tables(tmp_path, capsys):
    rng = np.random.default_rng(0)
    b = tmp_path/'BSDS500'; gts, preds = {}, {}
    for k in ('8', '9', '10', '11'):
        g = [np.kron(rng.integers(1, 4, (3, 4)), np.ones((4, 4), int)) for _ in range(2)]
        D._write_bsds_mat(b/'groundTruth/test'/f'{k}.mat', g); jpg(b/'images/test'/f'{k}.jpg', 12, 16); gts[k] = g
    preds['8'] = gts['8'][0] - 1                                            # 16-bit PNG label ids
    preds['9'] = np.zeros((12, 16), int)
    preds['10'] = np.kron(rng.integers(0, 300, (6, 8)), np.ones((2, 2), int))  # ids beyond 8 bits, as .npy
    save_labels(tmp_path/'pred/8.png', preds['8']); save_labels(tmp_path/'pred/9.png', preds['9']); np.save(tmp_path/'pred/10.npy', preds['10'])
    code, out, err = run(['eval', 'bsds500', '--pred', str(tmp_path/'pred'), '--split', 'test', '--out', str(tmp_path/'res'),
                          '--root', str(tmp_path), '--quiet'], capsys)
    assert code == 0, err
    assert 'scored 3 of 4 images' in out and '1 without a prediction' in out
    ref = M.reduce_bsds([M.score_bsds(preds[k], gts[k], k) for k in ('10', '8', '9')])
    js = json.loads((tmp_path/'res/bsds500_test.json').read_text())
    for k in M.BSDS_COLUMNS:
        assert js['overall'][k] == pytest.approx(ref[k]) and js['rows'][0][k] == pytest.approx(ref[k])
    assert js['params']['protocol'] == 'bsds500' and js['params']['connectivity'] == 8 and js['params']['split'] == 'test'
    assert js['coverage'] == {'n_scored': 3, 'n_split': 4, 'n_missing': 1, 'n_failed': 0, 'n_unmatched_files': 0} and js['missing_ids'] == ['11']
    per = json.loads((tmp_path/'res/bsds500_test_per_image.json').read_text())['rows']
    assert [r['id'] for r in per] == ['10', '8', '9']                       # dataset order
    csv = (tmp_path/'res/bsds500_test.csv').read_text().splitlines()
    assert csv[0].startswith('protocol,all,fine,coarse,mean')
    assert (tmp_path/'res/bsds500_test_per_image.csv').read_text().count('\n') == 4
    code, out, err = run(['eval', 'bsds500', '--pred', str(tmp_path/'pred'), '--split', 'test', '--out', str(tmp_path/'res0'),
                          '--root', str(tmp_path), '--quiet', '--label0', 'benchmark'], capsys)       # the benchmark's label-0 rule
    assert code == 0, err
    ref0 = M.reduce_bsds([M.score_bsds(preds[k], gts[k], k, label0='benchmark') for k in ('10', '8', '9')])
    js0 = json.loads((tmp_path/'res0/bsds500_test.json').read_text())
    assert js0['params']['label0'] == 'benchmark' and 'left out of PRI and VoI' in js0['params']['protocol_text']
    for k in M.BSDS_COLUMNS: assert js0['overall'][k] == pytest.approx(ref0[k])
    assert js0['overall']['mean'] == pytest.approx(ref['mean']) and js0['overall']['covering'] < ref['covering']   # label 0 is used by 8, 9, 10


def test_eval_errors_exit_1_with_reason(tmp_path, capsys):
    b = tmp_path/'BSDS500'
    D._write_bsds_mat(b/'groundTruth/test/1.mat', [np.ones((4, 5), int)]); jpg(b/'images/test/1.jpg', 4, 5)
    save_labels(tmp_path/'pred/1.png', np.zeros((5, 4), int))
    code, out, err = run(['eval', 'bsds500', '--pred', str(tmp_path/'pred'), '--root', str(tmp_path)], capsys)
    assert code == 1 and '1.png' in err and '5x4' in err and '4x5' in err
    code, out, err = run(['eval', 'bsds500', '--pred', str(tmp_path/'nowhere'), '--root', str(tmp_path)], capsys)
    assert code == 1 and 'nowhere' in err
    save_labels(tmp_path/'other/x.png', np.zeros((4, 5), int))
    code, out, err = run(['eval', 'bsds500', '--pred', str(tmp_path/'other'), '--root', str(tmp_path)], capsys)
    assert code == 1 and 'no prediction matches' in err and "'x'" in err
    code, out, err = run(['eval', 'saliency', '--dataset', 'dut-omron', '--pred', str(tmp_path/'pred'), '--root', str(tmp_path)], capsys)
    assert code == 1 and 'DUT-OMRON' in err
    with pytest.raises(SystemExit): parser().parse_args(['eval', 'saliency', '--dataset', 'pascal-s', '--pred', 'x'])


def test_eval_voc_and_resize(tmp_path, capsys):
    v = tmp_path/'VOCdevkit/VOC2012'
    pred = np.zeros((6, 8), int); pred[:4, :4] = 1; pred[4:, 4:] = 2      # blocks on even rows/columns
    obj = pred.copy(); obj[:, 7] = 255
    jpg(v/'JPEGImages/a.jpg', 6, 8); D._save_palette_png(v/'SegmentationObject/a.png', obj); D._save_palette_png(v/'SegmentationClass/a.png', obj)
    (v/'ImageSets/Segmentation').mkdir(parents=True); (v/'ImageSets/Segmentation/val.txt').write_text('a\n')
    save_labels(tmp_path/'pred/a.png', pred[::2, ::2])                      # half resolution
    code, out, err = run(['eval', 'voc', '--pred', str(tmp_path/'pred'), '--root', str(tmp_path), '--quiet'], capsys)
    assert code == 1 and '3x4' in err and '--resize-pred' in err
    code, out, err = run(['eval', 'voc', '--pred', str(tmp_path/'pred'), '--root', str(tmp_path), '--resize-pred', '--out', str(tmp_path/'r'), '--quiet'], capsys)
    assert code == 0, err
    js = json.loads((tmp_path/'r/voc2012_val.json').read_text())
    assert js['overall']['miou'] == pytest.approx(1.0) and js['params']['resize'] == 'nearest'


def test_eval_coco27(tmp_path, capsys):
    c = tmp_path/'cocostuff'
    fine = np.array([[0, 0, 156, 156], [0, 0, 156, 156], [123, 123, 255, 255]], np.uint8)   # person, sky, grass(plant)
    for k in ('000000000001', '000000000002'):
        jpg(c/'images/val2017'/f'{k}.jpg', 3, 4)
        (c/'annotations/val2017').mkdir(parents=True, exist_ok=True); Image.fromarray(fine).save(c/'annotations/val2017'/f'{k}.png')
    (tmp_path/'list.txt').write_text('000000000001\n000000000002\n')
    save_labels(tmp_path/'pred/000000000001.png', np.array([[4, 4, 2, 2], [4, 4, 2, 2], [0, 0, 0, 0]]))   # perfect
    save_labels(tmp_path/'pred/000000000002.png', np.zeros((3, 4), int))                                   # one cluster
    code, out, err = run(['eval', 'coco27', '--pred', str(tmp_path/'pred'), '--root', str(tmp_path), '--image-list',
                          str(tmp_path/'list.txt'), '--out', str(tmp_path/'r'), '--quiet'], capsys)
    assert code == 0, err
    js = json.loads((tmp_path/'r/coco27_val.json').read_text())
    per, summed = js['overall']['per_image'], js['overall']['summed']
    # image 2: one cluster -> matched to person (4 px): COCO-All TP 4 of 10; stuff-only: matched to sky (4 of 6)
    assert per['coco_all_acc'] == pytest.approx((1 + 4 / 10) / 2) and summed['coco_all_acc'] == pytest.approx(14 / 20)
    assert per['coco_stuff_acc'] == pytest.approx((1 + 4 / 6) / 2)
    # image 2: the cluster's class (person or sky, a tie) gets IoU 4/10, the other two classes 0
    assert per['coco_all_miou'] == pytest.approx((1 + 0.4 / 3) / 2)
    assert summed['coco_all_miou'] == pytest.approx(np.mean([8 / 14, 4 / 8, 2 / 4]))      # the same either way of the tie
    assert ['DynaSeg' in js['rows'][0]['reduction'], 'DiffSeg' in js['rows'][1]['reduction']] == [True, True]


def test_eval_saliency_folder_and_corloc(tmp_path, capsys):
    gt = np.zeros((6, 8), np.uint8); gt[1:4, 2:6] = 255
    for k in ('p', 'q'):
        jpg(tmp_path/'im'/f'{k}.jpg', 6, 8); (tmp_path/'gt').mkdir(exist_ok=True); Image.fromarray(gt).save(tmp_path/'gt'/f'{k}.png')
    (tmp_path/'pred').mkdir()
    Image.fromarray(gt).save(tmp_path/'pred/p.png')                                           # perfect, 8-bit
    np.save(tmp_path/'pred/q.npy', np.full((3, 4), 0.25))                                     # constant, low resolution
    code, out, err = run(['eval', 'saliency', '--dataset', 'folder', '--images', str(tmp_path/'im'), '--masks', str(tmp_path/'gt'),
                          '--pred', str(tmp_path/'pred'), '--out', str(tmp_path/'r'), '--quiet'], capsys)
    assert code == 0, err
    o = json.loads((tmp_path/'r/saliency_folder.json').read_text())['overall']
    f = 12 / 48
    assert o['acc'] == pytest.approx((1 + 1 - f) / 2) and o['iou'] == pytest.approx(0.5) and o['mae'] == pytest.approx((0 + (36 * .25 + 12 * .75) / 48) / 2)
    # q: 0.25 > t for t < .25 -> P = f, R = 1; p: F = 1 for every t < 1
    assert o['maxF'] == pytest.approx((1 + 1.3 * f / (.3 * f + 1)) / 2)
    # CorLoc on VOC07 with the same masks: p's box is the GT box, q's mask is empty after > 0.5
    v = tmp_path/'VOCdevkit/VOC2007'
    for k in ('p', 'q'): jpg(v/'JPEGImages'/f'{k}.jpg', 6, 8)
    (v/'Annotations').mkdir(); (v/'ImageSets/Main').mkdir(parents=True); (v/'ImageSets/Main/trainval.txt').write_text('p\nq\n')
    box = '<object><name>x</name><difficult>1</difficult><bndbox><xmin>3</xmin><ymin>2</ymin><xmax>6</xmax><ymax>4</ymax></bndbox></object>'
    for k in ('p', 'q'): (v/'Annotations'/f'{k}.xml').write_text(f'<annotation><size><width>8</width><height>6</height></size>{box}</annotation>')
    code, out, err = run(['eval', 'corloc', '--dataset', 'voc07', '--pred', str(tmp_path/'pred'), '--root', str(tmp_path), '--out', str(tmp_path/'r'), '--quiet'], capsys)
    assert code == 0, err
    js = json.loads((tmp_path/'r/corloc_voc2007-trainval.json').read_text())
    assert js['overall'] == {'corloc': 0.5, 'n_correct': 1, 'n_images': 2, 'n_empty': 1}


def test_prediction_readers(tmp_path):
    Image.fromarray(np.array([[0, 51, 255]], np.uint8)).save(tmp_path/'a.png')
    Image.fromarray(np.array([[0, 13107, 65535]], np.uint16)).save(tmp_path/'b.png')
    np.save(tmp_path/'c.npy', np.array([[0, 51, 255]], np.uint8))
    for n in ('a.png', 'b.png', 'c.npy'): assert load_soft_mask(tmp_path/n) == pytest.approx(np.array([[0, .2, 1]]))
    np.save(tmp_path/'d.npy', np.array([[0, 5]], np.int64))
    with pytest.raises(ValueError, match='must be binary'): load_soft_mask(tmp_path/'d.npy')
    Image.fromarray(np.array([[[200, 10, 10], [200, 10, 90]]], np.uint8)).save(tmp_path/'e.png')   # colour-coded segments
    with pytest.raises(ValueError, match='colour image'): load_label_map(tmp_path/'e.png')
    np.save(tmp_path/'f.npy', np.array([[0.0, 2.0]])); assert load_label_map(tmp_path/'f.npy').tolist() == [[0, 2]]


def test_console_script_wires_eval():
    cli = pytest.importorskip('dynaguide.cli', reason='dynaguide.cli not importable')
    if not hasattr(cli, 'build_parser'): pytest.skip('dynaguide.cli has no build_parser')
    a = cli.build_parser().parse_args(['eval', 'bsds500', '--pred', 'x'])
    assert a.eval_protocol == 'bsds500' and callable(a.func)


def quadrants(h, w):
    return (np.arange(w)[None, :] >= w // 2) + 2 * (np.arange(h)[:, None] >= h // 2)


def test_eval_real_data_subsets(tmp_path, capsys):
    root = need('ECSSD')
    ids = D.ECSSD(root).ids[::50]                                           # 20 of 1000
    (tmp_path/'sal').mkdir()
    for k in ids: Image.fromarray(np.full((10, 10), 255, np.uint8)).save(tmp_path/'sal'/f'{k}.png')
    code, out, err = run(['eval', 'saliency', '--dataset', 'ecssd', '--pred', str(tmp_path/'sal'), '--root', str(root), '--out', str(tmp_path/'r'), '--quiet'], capsys)
    assert code == 0, err
    assert 'scored 20 of 1000 images' in out
    fg = np.mean([(np.asarray(Image.open(root/'ECSSD/ground_truth_mask'/f'{k}.png')) > 127).mean() for k in ids])
    o = json.loads((tmp_path/'r/saliency_ecssd.json').read_text())['overall']
    assert o['acc'] == pytest.approx(fg) and o['iou'] == pytest.approx(fg)
    if not (REAL/'BSDS500').is_dir(): return
    bs = D.BSDS500(root, 'test')
    items = [bs[k] for k in bs.ids[:5]]
    for it in items: save_labels(tmp_path/'seg'/f'{it.id}.png', quadrants(*it.segmentations[0].shape))
    code, out, err = run(['eval', 'bsds500', '--pred', str(tmp_path/'seg'), '--root', str(root), '--out', str(tmp_path/'r'), '--quiet'], capsys)
    assert code == 0, err
    assert 'scored 5 of 200 images' in out
    ref = M.reduce_bsds([M.score_bsds(quadrants(*it.segmentations[0].shape), it.segmentations) for it in items])
    js = json.loads((tmp_path/'r/bsds500_test.json').read_text())
    assert [js['overall'][k] for k in M.BSDS_COLUMNS[:4]] == pytest.approx([ref[k] for k in M.BSDS_COLUMNS[:4]])
