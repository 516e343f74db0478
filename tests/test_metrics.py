"Metrics: hand-computed cases, brute-force references on random maps, invariances, and checks on the real data."
import itertools, os

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from dynaguide import metrics as M

from conftest import need


def blocky(rng, shape, k, block=3):
    "A random label map of `k` labels made of `block` x `block` tiles (so segments are larger than one pixel)."
    small = rng.integers(0, k, (-(-shape[0] // block), -(-shape[1] // block)))
    return np.kron(small, np.ones((block, block), int))[:shape[0], :shape[1]]


# ---------------------------------------------------------------- brute-force references
def naive_components(pred, connectivity=8):
    "Boolean masks of the connected components of every label, with scipy (independent of skimage)."
    st = np.ones((3, 3)) if connectivity == 8 else None
    out = []
    for v in np.unique(pred):
        lab, n = ndimage.label(pred == v, structure=st)
        out += [lab == i for i in range(1, n + 1)]
    return out


def naive_best(pred, gt, valid=None, connectivity=8):
    valid = np.ones(gt.shape, bool) if valid is None else valid
    comps = [c & valid for c in naive_components(pred, connectivity)]
    res = []
    for g in np.unique(gt[valid]):
        G = (gt == g) & valid
        res.append(max((G & P).sum() / (G | P).sum() for P in comps if P.any()))
    return res


def test_best_match_equals_brute_force():
    rng = np.random.default_rng(1)
    for trial in range(20):
        shape = (int(rng.integers(5, 20)), int(rng.integers(5, 20)))
        pred, gts = blocky(rng, shape, 4, 2), [blocky(rng, shape, int(rng.integers(1, 6)), 3) + 1 for _ in range(3)]
        conn = (4, 8)[trial % 2]
        s = M.score_bsds(pred, gts, connectivity=conn)
        for j, g in enumerate(gts):
            ref = naive_best(pred, g, connectivity=conn)
            assert s.n_segments[j] == len(ref)
            assert s.iou_sums[j] == pytest.approx(sum(ref))
        assert s.n_pred == len(naive_components(pred, conn))


def test_voc_equals_brute_force_with_void():
    rng = np.random.default_rng(2)
    for _ in range(10):
        pred, gt = blocky(rng, (12, 15), 3, 2), blocky(rng, (12, 15), 4, 3)
        gt[rng.random(gt.shape) < 0.15] = 255
        s = M.score_voc(pred, gt)
        ref = naive_best(pred, gt, gt != 255)
        assert (s.n_segments, s.iou_sum) == (len(ref), pytest.approx(sum(ref)))


def test_region_measures_equal_brute_force():
    rng = np.random.default_rng(3)
    from skimage.metrics import variation_of_information as sk_voi
    for _ in range(10):
        a, b = blocky(rng, (9, 11), 4, 2) + 1, blocky(rng, (9, 11), 3, 2) * 7
        fa, fb = a.ravel(), b.ravel()
        i, j = np.triu_indices(fa.size, 1)
        assert M.rand_index(a, b) == pytest.approx(((fa[i] == fa[j]) == (fb[i] == fb[j])).mean())
        assert M.variation_of_information(a, b) == pytest.approx(sk_voi(a, b).sum())
        cov = sum((a == g).sum() * max(((a == g) & (b == p)).sum() / ((a == g) | (b == p)).sum() for p in np.unique(b))
                  for g in np.unique(a)) / a.size
        assert M.segmentation_covering(a, b) == pytest.approx(cov)


def test_hungarian_total_equals_brute_force():
    rng = np.random.default_rng(4)
    for _ in range(20):
        gt = blocky(rng, (10, 12), 3, 2); gt[rng.random(gt.shape) < 0.1] = -1
        pred = blocky(rng, (10, 12), int(rng.integers(1, 5)), 2) * 3
        s = M.score_hungarian(pred, gt, 3)
        clusters = np.unique(pred[gt >= 0]).tolist()
        best = 0
        for perm in itertools.permutations(clusters + [None] * 3, 3):     # class c -> cluster perm[c] (or none)
            best = max(best, sum(((gt == c) & (pred == k)).sum() for c, k in enumerate(perm) if k is not None))
        assert s.tp.sum() == best and s.n_valid == (gt >= 0).sum()
        assert (s.tp + s.fn).tolist() == [(gt == c).sum() for c in range(3)]


def test_f_curve_equals_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(10):
        gt = rng.random((8, 9)) < 0.4
        pred = (rng.integers(0, 256, (8, 9)) / 255).astype(np.float32)   # 8-bit values: exact ties with thresholds
        f = M.f_curve(pred, gt)
        for k in range(255):
            t = np.float32(k / 255); pos = pred > t
            tp = (pos & gt).sum(); p = tp / pos.sum() if pos.sum() else 1.0; r = tp / gt.sum() if gt.sum() else 1.0
            ref = 1.3 * p * r / (0.3 * p + r) if (0.3 * p + r) > 0 else 0.0
            assert f[k] == pytest.approx(ref), k


# ---------------------------------------------------------------- hand-computed cases
def test_bsds_hand_computed_pooled_fine_coarse_and_ties():
    A = np.array([[1, 1, 2, 2], [1, 1, 2, 2]]); B = np.array([[1, 1, 2, 3], [1, 1, 2, 3]])
    pr = np.array([[0, 0, 0, 1], [0, 0, 0, 1]])
    s = M.score_bsds(pr, [A, B])
    assert s.iou_sums == pytest.approx([4 / 6 + 1 / 2, 4 / 6 + 1 / 3 + 1]) and (s.fine, s.coarse) == (1, 0)
    perfect, one = M.score_bsds(A, [A]), M.score_bsds(np.zeros_like(A), [A])
    d = M.reduce_bsds([s, perfect, one])
    segs = [4 / 6, .5, 4 / 6, 1 / 3, 1, 1, 1, .5, .5]
    assert d['all'] == pytest.approx(np.mean(segs))                                   # pooled over 9 GT segments
    assert d['fine'] == pytest.approx(np.mean([4 / 6, 1 / 3, 1, 1, 1, .5, .5]))
    assert d['coarse'] == pytest.approx(np.mean([4 / 6, .5, 1, 1, .5, .5]))
    assert d['mean'] == pytest.approx((d['all'] + d['fine'] + d['coarse']) / 3)
    assert d['all'] != pytest.approx(np.mean([x.row()['all'] for x in (s, perfect, one)]))
    tie = M.score_bsds(pr, [A, A + 0, B, B + 0])                                        # ties: first map of the tie
    assert (tie.fine, tie.coarse) == (2, 0)


def test_perfect_one_segment_and_permutation():
    rng = np.random.default_rng(6)
    gt = M.relabel_connected(blocky(rng, (12, 14), 5, 3)) + 1                          # connected GT segments, as in BSDS
    r = M.score_bsds(gt, [gt]).row()
    assert tuple(r[k] for k in M.BSDS_COLUMNS) == (1, 1, 1, 1, 1, 1, 0)
    one = M.score_bsds(np.full(gt.shape, 7), [gt])
    sizes = np.bincount(gt.ravel())[1:]; sizes = sizes[sizes > 0]
    assert one.row()['all'] == pytest.approx(np.mean(sizes / gt.size))
    assert one.row()['covering'] == pytest.approx((sizes ** 2).sum() / gt.size ** 2)
    pred = blocky(rng, gt.shape, 6, 2)
    perm = rng.permutation(50)[pred] * 1000 - 7                                         # relabel values arbitrarily
    assert M.score_bsds(perm, [gt]) == M.score_bsds(pred, [gt])
    assert M.score_voc(perm, gt).iou_sum == pytest.approx(M.score_voc(pred, gt).iou_sum)
    gt27 = rng.integers(0, 27, gt.shape)
    assert M.score_coco27(perm, gt27).row() == M.score_coco27(pred, gt27).row()
    assert M.score_hungarian(gt27 + 100, gt27, 27).miou == 1.0


def test_connected_split_and_region_measures_as_given():
    gt = np.array([[1, 1, 2, 2]]); pr = np.array([[0, 1, 1, 0]])
    s = M.score_bsds(pr, [gt])
    assert s.n_pred == 3 and s.row()['all'] == pytest.approx(0.5)
    assert s.row()['covering'] == pytest.approx(1 / 3)                                  # as given: {0,3} and {1,2}
    assert M.score_bsds(pr, [gt], relabel_regions=True).row()['covering'] == pytest.approx(0.5)
    with pytest.raises(ValueError, match='integer'): M.score_bsds(pr.astype(float), [gt])


def test_saliency_hand_computed_and_empty_masks():
    gt = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], bool)
    s = M.score_saliency(np.array([[.9, .6, .6, 0], [.2, 0, 0, 0]]), gt)
    assert (s.acc, s.iou) == (pytest.approx(.75), pytest.approx(.5))
    assert s.mae == pytest.approx((.1 + .4 + .6 + .8) / 8)
    e = M.score_saliency(np.zeros((2, 4)), np.zeros((2, 4), bool))
    assert (e.acc, e.iou, e.mae) == (1.0, 1.0, 0.0) and e.f.max() == pytest.approx(1.0)
    z = M.score_saliency(np.zeros((2, 4)), gt)
    assert (z.iou, z.f.max(), z.acc) == (0.0, 0.0, .625)
    up = M.score_saliency(np.kron(gt.astype(float), np.ones((3, 3))), gt)                  # predicted at 3x resolution
    assert (up.acc, up.iou) == (1.0, 1.0)
    d = M.reduce_saliency([s, e])
    assert d['maxF'] == pytest.approx(((s.f + e.f) / 2).max()) and d['maxF_per_image'] == pytest.approx((s.f.max() + 1) / 2)
    assert d['maxF'] <= d['maxF_per_image'] + 1e-12


def test_corloc_hand_computed():
    m = np.zeros((10, 10), bool); m[0:2, 0:2] = True; m[5:10, 8] = True; m[9, 5:9] = True    # L-shape box 5x4 = 20 > 4
    assert M.mask_to_box(m).tolist() == [5, 5, 9, 10]
    gts = np.array([[5, 5, 9, 10]], float)
    assert M.score_corloc(m, gts).correct and M.score_corloc(m, gts).iou == 1.0
    assert not M.score_corloc(m, [[0, 0, 2, 2]]).correct
    assert M.score_corloc(m, [[0, 0, 2, 2], [5, 5, 9, 10]]).correct                   # any GT box counts
    soft = m * 0.7
    assert M.score_corloc(soft, gts).correct and not M.score_corloc(m * 0.4, gts).correct
    r = M.reduce_corloc([M.score_corloc(m, gts), M.score_corloc(np.zeros((10, 10)), gts)])
    assert (r['corloc'], r['n_empty']) == (0.5, 1)


# ---------------------------------------------------------------- real data
def test_ecssd_all_foreground_all_background():
    root = need('ECSSD')
    from dynaguide.data import ECSSD
    ds = ECSSD(root)
    fg, fg_s, bg_s = [], [], []
    for it in ds:
        a = np.asarray(Image.open(root/'ECSSD'/'ground_truth_mask'/f'{it.id}.png'))   # independent read of the GT
        a = a[..., 0] if a.ndim == 3 else a
        f = (a > 127).mean(); fg.append(f)
        fg_s.append(M.score_saliency(np.ones(a.shape), it.mask, it.id))
        bg_s.append(M.score_saliency(np.zeros((7, 9)), it.mask, it.id))                # any size: resized to GT
    fg = np.array(fg)
    assert len(fg) == 1000 and (fg > 0).all()
    F, B = M.reduce_saliency(fg_s), M.reduce_saliency(bg_s)
    assert F['acc'] == pytest.approx(fg.mean()) and F['iou'] == pytest.approx(fg.mean())
    assert F['mae'] == pytest.approx(1 - fg.mean())
    assert F['maxF'] == pytest.approx(np.mean(1.3 * fg / (0.3 * fg + 1)))              # P = fg fraction, R = 1
    assert B['acc'] == pytest.approx(1 - fg.mean()) and B['iou'] == 0.0 and B['mae'] == pytest.approx(fg.mean())
    assert B['maxF'] == 0.0


def test_bsds_real_matches_brute_force_on_a_few_images():
    root = need('BSDS500')
    from dynaguide.data import BSDS500
    from skimage.segmentation import slic
    ds = BSDS500(root, 'test')
    scores, segs = [], []
    for it in [ds['100007']]:
        pred = slic(it.image(), n_segments=20, compactness=20, start_label=0)
        s = M.score_bsds(pred, it.segmentations, it.id); scores.append(s)
        for j, g in enumerate(it.segmentations):
            ref = naive_best(pred, g)
            assert s.n_segments[j] == len(ref) and s.iou_sums[j] == pytest.approx(sum(ref))
            segs += ref
    assert M.reduce_bsds(scores)['all'] == pytest.approx(np.mean(segs))


@pytest.mark.skipif(not os.environ.get('DYNAGUIDE_SLOW'), reason='slow (about a minute of Felzenszwalb); set DYNAGUIDE_SLOW=1')
def test_felzenszwalb_bsds_test():
    "Felzenszwalb (scale 300, sigma 0.8, min size 50) on the 200 BSDS500 test images: .335 / .300 / .380 / .338 as measured here."
    root = need('BSDS500')
    from dynaguide.data import BSDS500
    from skimage.segmentation import felzenszwalb
    items = list(BSDS500(root, 'test'))
    sc = [M.score_bsds(felzenszwalb((it.image() * 255).round().astype(np.uint8), scale=300, sigma=0.8, min_size=50), it.segmentations)
          for it in items]
    d = M.reduce_bsds(sc)
    assert [d[k] for k in M.BSDS_COLUMNS[:4]] == pytest.approx([.335, .300, .380, .338], abs=0.01)
    assert (d['n_images'], d['n_gt_maps']) == (200, 1063)
