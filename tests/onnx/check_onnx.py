#!/usr/bin/env python3
"""ONNX export and import, checked by the real tools.

    check_onnx.py STHENO WORK_DIR [PYTHON]

1. Every model `stheno train` makes (mlp with dropout, cnn, cnn with batch norm, char-lstm) is
   trained briefly, written by `stheno export --sample`, accepted by onnx.checker with
   full_check, run by onnxruntime on the sample's inputs (batch 3, the batch it was exported
   at) to stheno's outputs within 1e-5 relative, run again at batch 5 (the batch axis is
   symbolic), and read back by `stheno run --inputs` to the same outputs (the round trip).
2. Models exported by PyTorch (torch.onnx.export, opset 17): an MLP, a CNN with batch norm and
   average pooling, an LSTM and a GRU, in evaluation mode. stheno imports each and gives
   PyTorch's outputs within 1e-5 relative.
3. Fine-tuning (`stheno train --init-from`): a stheno export, trained on with a negligible step,
   keeps the accuracy `stheno run` measures on it; an untrained PyTorch MLP with batch norm
   trains to at least 65% in one short epoch; the fine-tuned model exports and onnxruntime
   agrees with stheno on it.

Needs Fashion-MNIST (Debian's dataset-fashion-mnist), onnx, onnxruntime, torch and numpy; when this Python lacks one it runs again under PYTHON
(scripts/setup.sh makes build/onnx-venv, with onnxruntime from PyPI), and exits 77 (CTest's
skip) when that lacks one too.
"""
import json
import os
import struct
import subprocess
import sys
import warnings

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
except ImportError as e:  # the test's precondition, not a failure
    if len(sys.argv) > 3 and os.path.exists(sys.argv[3]) and "STHENO_ONNX_PYTHON" not in os.environ:
        os.environ["STHENO_ONNX_PYTHON"] = sys.argv[3]
        os.execv(sys.argv[3], [sys.argv[3], *sys.argv])
    print(f"skipped: {e} (scripts/setup.sh makes build/onnx-venv with onnxruntime)")
    sys.exit(77)

warnings.filterwarnings("ignore")  # torch.onnx's advice about other models than these

if not os.path.isdir("/usr/share/datasets/fashion-mnist"):
    print("skipped: no Fashion-MNIST in /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)")
    sys.exit(77)

TOLERANCE = 1e-5
DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b : 8 + n + e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        blob = array.tobytes()
        header[name] = {"dtype": NAMES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


failures = []


def compare(what, got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        failures.append(f"{what}: shape {got.shape}, expected {want.shape}")
        print(f"FAIL {what}: shape {got.shape}, expected {want.shape}")
        return
    scale = max(np.max(np.abs(want)), 1e-30)
    error = np.max(np.abs(got - want)) / scale
    ok = error <= TOLERANCE
    print(f"{'ok  ' if ok else 'FAIL'} {what}: largest difference {error:.2e} of the largest value {scale:.3g}")
    if not ok:
        failures.append(f"{what}: relative difference {error:.2e} > {TOLERANCE}")


def run(*args):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def ort_session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def check_stheno_exports(stheno, work):
    models = {
        "mlp": ["--hidden", "64,32", "--dropout", "0.2", "--train-limit", "600"],
        "cnn": ["--model", "cnn", "--train-limit", "128"],
        "cnn-bn": ["--model", "cnn", "--batch-norm", "--train-limit", "128"],
    }
    for name, flags in models.items():
        out = os.path.join(work, name)
        run(stheno, "train", "--epochs", "1", "--batch", "32", "--plot=false", "--out", out, *flags)
        check_export(stheno, work, name, os.path.join(out, "checkpoint.safetensors"))
    out = os.path.join(work, "char-lstm")
    run(stheno, "train", "--model", "char-lstm", "--steps", "20", "--hidden", "24", "--embed", "8", "--seq", "6", "--sample", "0", "--out", out)
    check_export(stheno, work, "char-lstm", os.path.join(out, "char-lstm.safetensors"), ["--steps", "6"])


def check_export(stheno, work, name, checkpoint, flags=()):
    path, sample = os.path.join(work, name + ".onnx"), os.path.join(work, name + ".sample.safetensors")
    print(run(stheno, "export", "--checkpoint", checkpoint, "--onnx", path, "--sample", sample, *flags).strip())
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == 8 and model.opset_import[0].version == 17, (model.ir_version, model.opset_import)
    print(f"ok   {name}: onnx.checker (full_check) accepts it; ops {sorted({n.op_type for n in model.graph.node})}")
    tensors = read_safetensors(sample)
    input_name, output_name = model.graph.input[0].name, model.graph.output[0].name
    session = ort_session(path)
    (got,) = session.run([output_name], {input_name: tensors[input_name]})
    compare(f"{name}: onnxruntime against stheno", got, tensors[output_name])
    bigger = np.concatenate([tensors[input_name], tensors[input_name][:2]])
    (got5,) = session.run([output_name], {input_name: bigger})
    compare(f"{name}: onnxruntime at batch 5", got5[:3], tensors[output_name])
    back = os.path.join(work, name + ".roundtrip.safetensors")
    run(stheno, "run", "--onnx", path, "--inputs", sample, "--outputs", back)
    compare(f"{name}: stheno's import of its export", read_safetensors(back)[output_name], tensors[output_name])


def check_errors(stheno, work):
    """Bad files are refused with a message naming the file and what is wrong."""
    sample = os.path.join(work, "mlp.sample.safetensors")
    truncated = os.path.join(work, "truncated.onnx")
    with open(os.path.join(work, "cnn.onnx"), "rb") as f:
        data = f.read()
    with open(truncated, "wb") as f:
        f.write(data[: len(data) // 3])
    cases = [
        (["export", "--checkpoint", sample, "--onnx", os.path.join(work, "x.onnx")], 'no "model" in its metadata'),
        (["run", "--onnx", truncated, "--inputs", sample, "--outputs", os.path.join(work, "y.safetensors")],
         "truncated.onnx: ONNX: not a valid ModelProto"),
        (["run", "--onnx", os.path.join(work, "char-lstm.onnx"), "--limit", "10"], "does not take 10 images of 784 float32 pixels"),
    ]
    for args, expected in cases:
        result = subprocess.run([stheno, *args], capture_output=True, text=True)
        ok = result.returncode == 1 and expected in result.stderr
        print(f"{'ok  ' if ok else 'FAIL'} stheno {args[0]} refuses: {result.stderr.strip()}")
        if not ok:
            failures.append(f"stheno {' '.join(args)}: exit {result.returncode}, stderr {result.stderr!r}, expected {expected!r}")


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                       torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 5), torch.nn.LogSoftmax(1))

    def forward(self, x):
        return self.net(x)


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2), torch.nn.BatchNorm2d(6), torch.nn.Sigmoid(),
            torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(6 * 3 * 3, 10))

    def forward(self, x):
        return self.features(x)


class Recurrent(torch.nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(7, 9, batch_first=True)
        self.head = torch.nn.Linear(9, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y)


def check_pytorch_imports(stheno, work):
    torch.manual_seed(0)
    cases = {
        "torch-mlp": (Mlp(), torch.randn(3, 20)),
        "torch-cnn": (Cnn(), torch.rand(3, 1, 12, 12)),
        "torch-lstm": (Recurrent(torch.nn.LSTM), torch.randn(3, 5, 7)),
        "torch-gru": (Recurrent(torch.nn.GRU), torch.randn(3, 5, 7)),
    }
    for name, (model, x) in cases.items():
        if name == "torch-cnn":  # running statistics that are not 0 and 1
            model.train()
            with torch.no_grad():
                for _ in range(3):
                    model(torch.rand(8, 1, 12, 12) * 2)
        model.eval()
        path = os.path.join(work, name + ".onnx")
        torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], opset_version=17)
        with torch.no_grad():
            want = model(x).numpy()
        inputs = os.path.join(work, name + ".inputs.safetensors")
        write_safetensors(inputs, {"x": x.numpy()})
        outputs = os.path.join(work, name + ".outputs.safetensors")
        run(stheno, "run", "--onnx", path, "--inputs", inputs, "--outputs", outputs)
        ops = sorted({n.op_type for n in onnx.load(path).graph.node})
        compare(f"{name} ({', '.join(ops)}): stheno's import against PyTorch", read_safetensors(outputs)["y"], want)


def trained_accuracy(stheno, *flags):
    out = run(stheno, "train", "--epochs", "1", "--plot=false", "--json", *flags)
    return json.loads(out.strip().splitlines()[-1])["test_accuracy"]


def check_fine_tuning(stheno, work):
    exported = os.path.join(work, "mlp.onnx")
    measured = float(run(stheno, "run", "--onnx", exported).split("accuracy: ")[1].split("%")[0]) / 100
    kept = trained_accuracy(stheno, "--init-from", exported, "--optimizer", "sgd", "--lr", "1e-9", "--batch", "64",
                            "--train-limit", "64", "--out", os.path.join(work, "ft-kept"))
    ok = abs(kept - measured) <= 0.002
    print(f"{'ok  ' if ok else 'FAIL'} --init-from mlp.onnx starts from its weights: {kept:.4f} after a negligible step, "
          f"stheno run measured {measured:.4f}")
    if not ok:
        failures.append(f"--init-from: accuracy {kept} after a negligible step, {measured} before")

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(), torch.nn.Linear(64, 10)).eval()
    path = os.path.join(work, "torch-mlp784.onnx")
    torch.onnx.export(model, (torch.rand(2, 784),), path, input_names=["pixels"], output_names=["scores"], opset_version=17,
                      dynamic_axes={"pixels": {0: "N"}, "scores": {0: "N"}})
    out = os.path.join(work, "ft-torch")
    accuracy = trained_accuracy(stheno, "--init-from", path, "--train-limit", "3000", "--batch", "32", "--out", out)
    ok = accuracy >= 0.65
    print(f"{'ok  ' if ok else 'FAIL'} --init-from an untrained PyTorch MLP with batch norm: {accuracy:.4f} after one epoch of 3000 images")
    if not ok:
        failures.append(f"--init-from torch-mlp784.onnx: accuracy {accuracy} < 0.65")
    check_export(stheno, work, "fine-tuned", os.path.join(out, "model.safetensors"))
    result = subprocess.run([stheno, "train", "--init-from", path, "--hidden", "30"], capture_output=True, text=True)
    ok = result.returncode == 2 and "--hidden describes the network, which --init-from takes from its file" in result.stderr
    print(f"{'ok  ' if ok else 'FAIL'} stheno train refuses: {result.stderr.strip()}")
    if not ok:
        failures.append(f"--init-from with --hidden: exit {result.returncode}, {result.stderr!r}")


def main():
    stheno, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, torch {torch.__version__}")
    check_stheno_exports(stheno, work)
    check_errors(stheno, work)
    check_pytorch_imports(stheno, work)
    check_fine_tuning(stheno, work)
    if failures:
        sys.exit("failed:\n  " + "\n  ".join(failures))
    print("all ONNX checks passed")


if __name__ == "__main__":
    main()
