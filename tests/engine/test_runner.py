import threading
import time

import pytest
import torch

from lumiere.engine.int8 import conv_input_ranges
from lumiere.engine.precision import select_device, select_dtype
from lumiere.engine.runner import ModelRunner, RunnerSettings
from lumiere.errors import LumiereError
from lumiere.models.loader import load_model, store_int8_ranges

from ..conftest import smooth_pictures


def test_smoke(tiny_models, device):
    runner = ModelRunner(load_model(str(tiny_models[2])), RunnerSettings(str(device)))
    out = runner(torch.rand(2, 3, 20, 30))
    assert out.shape == (2, 3, 40, 60) and out.dtype == torch.float32


@pytest.mark.slow
@pytest.mark.parametrize("precision,tolerance", [("fp32", 1e-5), ("bf16", 2e-2)])
def test_tiled_runner_matches_untiled(tiny_models, precision, tolerance):
    x = torch.rand(1, 3, 50, 70)
    whole = ModelRunner(load_model(str(tiny_models[4])), RunnerSettings("cpu", precision, tile=0))(x)
    tiled = ModelRunner(load_model(str(tiny_models[4])), RunnerSettings("cpu", precision, tile=32))(x)
    assert (whole - tiled).abs().max() < tolerance


def test_out_of_memory_retries_with_smaller_tiles(tiny_models, monkeypatch):
    runner = ModelRunner(load_model(str(tiny_models[2])), RunnerSettings("cpu", tile=256))
    original = runner._forward

    def limited(x):
        if x.shape[-1] * x.shape[-2] > 56 * 56:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
        return original(x)

    monkeypatch.setattr(runner, "_forward", limited)
    out = runner(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 3, 128, 128) and runner.tile < 64


def test_out_of_memory_gives_up_with_clear_error(tiny_models, monkeypatch):
    runner = ModelRunner(load_model(str(tiny_models[2])), RunnerSettings("cpu", tile=64))

    def always(x):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(runner, "_forward", always)
    with pytest.raises(LumiereError, match="out of memory even with 32 px tiles"):
        runner(torch.rand(1, 3, 64, 64))


def test_other_errors_are_not_swallowed(tiny_models, monkeypatch):
    runner = ModelRunner(load_model(str(tiny_models[2])), RunnerSettings("cpu", tile=32))

    def broken(x):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(runner, "_forward", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        runner(torch.rand(1, 3, 64, 64))


def test_exception_wrong_channels(tiny_models):
    runner = ModelRunner(load_model(str(tiny_models[2])), RunnerSettings("cpu"))
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\), got \(1, 4, 8, 8\)"):
        runner(torch.rand(1, 4, 8, 8))


def test_precision_rules(tiny_models, monkeypatch):
    from lumiere.engine import precision

    descriptor = load_model(str(tiny_models[2])).descriptor
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert select_dtype(cpu, descriptor) == torch.float32
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert select_dtype(cpu, descriptor) == torch.bfloat16
    assert select_dtype(cpu, descriptor, "fp32") == torch.float32
    assert select_dtype(cpu, descriptor, "bf16") == torch.bfloat16
    with pytest.raises(LumiereError, match="fp16 is not run on CPU"):
        select_dtype(cpu, descriptor, "fp16")
    assert select_dtype(torch.device("cuda"), descriptor) == torch.float16


def test_bf16_on_cpu_is_close(tiny_models):
    loaded = load_model(str(tiny_models[2]))
    x = torch.rand(1, 3, 16, 16)
    fp32 = ModelRunner(loaded, RunnerSettings("cpu", "fp32"))(x)
    bf16 = ModelRunner(load_model(str(tiny_models[2])), RunnerSettings("cpu", "bf16"))(x)
    assert (fp32 - bf16).abs().mean() < 0.02


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(LumiereError, match="unknown device"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(LumiereError, match="no CUDA GPU"):
            select_device("cuda")


@pytest.mark.slow
def test_two_threads_load_the_same_int8_network(tiny_models, tmp_path, monkeypatch):
    """Two jobs of one process (the web page's, the Python API's from threads) converting a network to int8 at
    once: the converter traces with torch.jit, which breaks when two traces run together."""
    openvino = pytest.importorskip("openvino")
    path = tmp_path / "calibrated.safetensors"
    path.write_bytes(tiny_models[2].read_bytes())
    store_int8_ranges(path, conv_input_ranges(load_model(str(path)).module, [smooth_pictures(2, 32)]))
    converting, overlapped = [0], []
    convert = openvino.convert_model

    def watched(*args, **kwargs):
        converting[0] += 1
        overlapped.append(converting[0] > 1)
        time.sleep(0.2)  # a conversion long enough for the other thread to arrive during it
        try:
            return convert(*args, **kwargs)
        finally:
            converting[0] -= 1

    monkeypatch.setattr(openvino, "convert_model", watched)
    start, runners, errors = threading.Barrier(2), [], []

    def load() -> None:
        start.wait()
        try:
            runners.append(ModelRunner(load_model(str(path)), RunnerSettings("cpu", "int8")))
        except Exception as exc:  # noqa: BLE001 (the thread's failure is the test's)
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and overlapped == [False, False]
    x = smooth_pictures(1, 32)
    assert all(runner.int8 for runner in runners) and torch.equal(runners[0](x), runners[1](x))


@pytest.mark.slow
def test_a_recurrent_network_is_tiled_smaller_the_longer_its_sequence(tmp_path, monkeypatch):
    """Its memory grows with the frames it is given at once: the automatic tile shrinks to fit."""
    from lumiere.engine import runner as runner_module
    from lumiere.models.basicvsr import BasicVSR, BasicVSRConfig
    from lumiere.models.loader import save_weights

    path = tmp_path / "tiny-basicvsr.safetensors"
    save_weights(BasicVSR(BasicVSRConfig(num_feat=4, num_block=1)), path, {})
    monkeypatch.setattr(runner_module, "available_memory", lambda device: 2 * 64 * 64 * 40_000)
    runner = ModelRunner(load_model(str(path)), RunnerSettings("cpu"))
    alone = runner.tile
    out = runner(torch.rand(8, 3, 40, 40))
    assert out.shape == (8, 3, 160, 160) and runner.tile < alone
