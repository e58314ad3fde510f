"""The compact format (bitmask + int8), its round trip through a file, int8 and ONNX export."""

import math

import pytest
import torch
from torch.nn.utils import prune

from helpers import compact, models, pruning, structured


def test_compact_bytes_by_hand():
    weight = torch.tensor([[0.0, 0.5, 0.0, 0.0, -0.2], [0.0, 0.0, 0.0, 0.1, 0.0], [0.3, 0.0, 0.0, 0.0, 0.0]])
    assert compact.compact_bytes(weight) == 2 + 4 + 4
    assert compact.compact_bytes(torch.ones(16)) == 2 + 16 + 4
    assert compact.compact_bytes(torch.zeros(17)) == 3 + 0 + 4
    with pytest.raises(TypeError, match="weight must be a torch.Tensor, got list"):
        compact.compact_bytes([1.0, 0.0])


@pytest.mark.parametrize("numel", [1, 7, 8, 9, 64, 1001])
def test_bits_pack_and_unpack(numel):
    mask = torch.rand(numel, generator=torch.Generator().manual_seed(numel)) > 0.5
    packed = compact.pack_bits(mask)
    assert packed.dtype == torch.uint8 and len(packed) == math.ceil(numel / 8)
    assert torch.equal(compact.unpack_bits(packed, numel), mask)


def test_pack_bits_puts_the_first_entry_in_the_highest_bit():
    mask = torch.tensor([True, False, False, False, False, False, False, True])
    assert compact.pack_bits(mask).tolist() == [129]


def test_to_compact_keeps_zeros_exact_and_values_within_half_a_step():
    torch.manual_seed(0)
    model = pruning.prune_copy(models.LeNet300100(), 0.9)
    state = pruning.plain_state_dict(model.state_dict())
    back = compact.from_compact(compact.to_compact(model.state_dict()))
    assert set(back) == set(state)
    for key, tensor in state.items():
        assert back[key].dtype == tensor.dtype and back[key].shape == tensor.shape
        if tensor.dim() >= 2:
            assert torch.equal(back[key] == 0, tensor == 0) or bool(((back[key] == 0) >= (tensor == 0)).all())
            assert torch.equal(back[key][tensor == 0], torch.zeros(int((tensor == 0).sum())))
            step = tensor.abs().max() / 127
            assert (back[key] - tensor).abs().max() <= step / 2 + 1e-7
        else:
            assert torch.equal(back[key], tensor), "biases stay float32, exact"


def test_the_stored_tensors_hold_exactly_the_bytes_compact_bytes_counts(tmp_path):
    torch.manual_seed(0)
    model = pruning.make_permanent(pruning.prune_copy(models.LeNet300100(), 0.9))
    stored = compact.to_compact(model.state_dict())
    for name in ("fc1", "fc2", "fc3"):
        entry = stored[f"{name}.weight"]
        assert isinstance(entry["scale"], torch.Tensor) and entry["scale"].dtype == torch.float32
        scale = entry["scale"]
        assert scale.dim() == 0 and scale.element_size() == 4, "the scale is stored in 4 bytes"
        assert entry["bitmask"].dtype == torch.uint8 and entry["values"].dtype == torch.int8
        payload = sum(t.numel() * t.element_size() for t in (entry["bitmask"], entry["values"], scale))
        assert payload == compact.compact_bytes(getattr(model, name).weight)
    torch.save(stored, tmp_path / "model.pt")
    loaded = torch.load(tmp_path / "model.pt", weights_only=True)
    assert loaded["fc1.weight"]["scale"].dtype == torch.float32, "the scale comes back as float32"


def test_an_all_zero_weight_gets_a_scale_of_one():
    entry = compact.to_compact({"w": torch.zeros(3, 4)})["w"]
    assert entry["scale"].dtype == torch.float32 and float(entry["scale"]) == 1.0
    assert entry["values"].numel() == 0
    assert torch.equal(compact.from_compact({"w": entry})["w"], torch.zeros(3, 4))


def test_save_and_load_compact_round_trip(tmp_path):
    torch.manual_seed(0)
    model = pruning.make_permanent(pruning.prune_copy(models.LeNet300100(), 0.95))
    path = tmp_path / "lenet.compact.pt"
    size = compact.save_compact(model, path)
    assert size == path.stat().st_size
    expected = sum(compact.compact_bytes(m.weight) for m in (model.fc1, model.fc2, model.fc3))
    storages = 3 * 3 + 3  # bitmask, values, scale per weight; the biases
    assert expected + 4 * 410 < size < expected + 4 * 410 + 400 * storages, (
        "weights as counted, biases in float32, and the archive's headers (a few hundred bytes per tensor)")
    assert pruning.serialized_size(model) / size > 20
    loaded = compact.load_compact(path, models.LeNet300100())
    x = torch.randn(64, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=0.05)
        assert (loaded(x).argmax(1) == model(x).argmax(1)).float().mean() > 0.95
    assert pruning.global_sparsity(loaded) == pytest.approx(pruning.global_sparsity(model), abs=1e-3)


def test_load_compact_refuses_a_missing_file_and_a_pruned_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no compact model file"):
        compact.load_compact(tmp_path / "missing.pt", models.LeNet300100())
    model = models.LeNet300100()
    path = tmp_path / "m.pt"
    compact.save_compact(model, path)
    prune.l1_unstructured(model.fc1, "weight", amount=0.5)
    with pytest.raises(ValueError, match="carries pruning masks"):
        compact.load_compact(path, model)


def test_load_compact_into_the_wrong_shapes_fails_loudly(tmp_path):
    path = tmp_path / "small.pt"
    compact.save_compact(structured.shrink_mlp(models.LeNet300100(), 0.5), path)
    with pytest.raises(RuntimeError, match="size mismatch"):
        compact.load_compact(path, models.LeNet300100())


def test_quantize_int8_copies_pruned_models_too():
    torch.manual_seed(0)
    model = pruning.prune_copy(models.LeNet300100(), 0.5)
    model.train()
    model(torch.randn(2, 1, 28, 28)).sum().backward()  # weight is now a non-leaf tensor: deepcopy alone fails
    quantized = compact.quantize_int8(model)
    assert type(quantized.fc1).__module__.startswith("torch.ao.nn.quantized")
    assert hasattr(model.fc1, "weight_orig"), "the model keeps its masks"
    assert compact.state_dict_bytes(quantized) < compact.state_dict_bytes(pruning.make_permanent(
        pruning.copy_model(model))) / 3


@pytest.mark.skipif(not compact.onnx_available(), reason="onnx, onnxscript and onnxruntime are not installed")
def test_onnx_export_runs_in_onnxruntime_with_the_same_predictions(tmp_path):
    torch.manual_seed(0)
    model = structured.shrink_mlp(models.LeNet300100(), 0.5)
    path = tmp_path / "model.onnx"
    assert compact.export_onnx(model, torch.randn(1, 1, 28, 28), path) == path.stat().st_size > 100_000
    x = torch.randn(33, 1, 28, 28)  # another batch size than the export's: the batch dimension is dynamic
    with torch.no_grad():
        expected = model.eval()(x)
    assert torch.allclose(compact.onnx_predict(compact.onnx_session(path), x), expected, atol=1e-4)
