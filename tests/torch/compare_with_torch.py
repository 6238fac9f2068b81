#!/usr/bin/env python3
"""Runs stheno_torch_cases, recomputes every case with PyTorch in float64 on the same inputs, and
checks that outputs, gradients of sum(out * R) and extra tensors agree to 1e-12 (relative to
1 + |value|). Prints every case and tensor that differs, and exits 1 if any does; exits 77 (a
skip, for CTest) when PyTorch is not installed.

    compare_with_torch.py PATH/TO/stheno_torch_cases
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("PyTorch is not installed (Debian: apt-get install python3-torch); skipping")
    sys.exit(77)

TOLERANCE = 1e-12
DTYPES = {"F64": torch.float64, "F32": torch.float32, "I32": torch.int32}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    metadata = header.pop("__metadata__", {})
    body = 8 + length
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(data[body + begin : body + end]), dtype=DTYPES[entry["dtype"]])
        tensors[name] = flat.reshape(entry["shape"]).clone()
    return tensors, metadata


def pair(v):
    return tuple(v)


def unary(x, spec):
    return getattr(torch, spec["fn"])(x)


BINARY = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "pow": torch.pow,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    # The fused activation gradients: a is the activation's output (or input, for relu), b the
    # incoming gradient.
    "sigmoid_grad": lambda a, b: b * a * (1 - a),
    "tanh_grad": lambda a, b: b * (1 - a * a),
    "relu_grad": lambda a, b: torch.where(a > 0, b, torch.zeros_like(b)),
}

REDUCE = {
    "sum": lambda x, axes, keep: torch.sum(x, dim=axes, keepdim=keep),
    "mean": lambda x, axes, keep: torch.mean(x, dim=axes, keepdim=keep),
    "max": lambda x, axes, keep: torch.amax(x, dim=axes, keepdim=keep),
}


def sum_to(x, shape):
    lead = x.dim() - len(shape)
    axes = list(range(lead)) + [lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1]
    return x.sum(dim=axes, keepdim=True).reshape(shape) if axes else x


def conv_settings(spec):
    return dict(stride=pair(spec["stride"]), padding=pair(spec["padding"]), dilation=pair(spec["dilation"]))


def batch_norm(inputs, spec, extra, stats_only):
    x = inputs[0]
    mean, var = extra["running_mean_before"].clone(), extra["running_var_before"].clone()
    axes = [0] + list(range(2, x.dim()))
    if stats_only:
        if spec["training"]:
            out = torch.stack([x.mean(dim=axes), x.var(dim=axes, unbiased=False)])
        else:
            out = torch.stack([mean, var])
    else:
        out = F.batch_norm(x, mean, var, inputs[1], inputs[2], spec["training"], spec["momentum"], spec["eps"])
    if stats_only and spec["training"]:
        # F.batch_norm updates the running statistics; run it for that alone.
        F.batch_norm(x.detach(), mean, var, None, None, True, spec["momentum"], spec["eps"])
    return out, {"running_mean": mean, "running_var": var}


def lstm(inputs):
    x, w_ih, w_hh, bias = inputs[:4]
    n, steps, _ = x.shape
    hidden = w_hh.shape[0]
    zeros = torch.zeros(n, hidden, dtype=x.dtype)
    h, c = (inputs[4], inputs[5]) if len(inputs) > 4 else (zeros, zeros)
    outputs = []
    for t in range(steps):
        # torch.nn.LSTMCell's own function; its weights are stheno's transposed.
        h, c = torch._VF.lstm_cell(x[:, t], (h, c), w_ih.t(), w_hh.t(), bias, torch.zeros_like(bias))
        outputs.append(h)
    return torch.cat(outputs + [h, c], dim=1)


def gru(inputs):
    x, w_ih, w_hh, b_ih, b_hh, h = inputs
    outputs = []
    for t in range(x.shape[1]):
        h = torch._VF.gru_cell(x[:, t], h, w_ih.t(), w_hh.t(), b_ih, b_hh)
        outputs.append(h)
    return torch.cat(outputs + [h], dim=1)


def lstm_cell(gates, c_prev):
    # torch.nn.LSTMCell with identity input weights and no hidden term: its gates are `gates`.
    n, four_h = gates.shape
    hidden = four_h // 4
    eye = torch.eye(four_h, dtype=gates.dtype)
    no_hh = torch.zeros(four_h, hidden, dtype=gates.dtype)
    no_bias = torch.zeros(four_h, dtype=gates.dtype)
    h, c = torch._VF.lstm_cell(gates, (torch.zeros(n, hidden, dtype=gates.dtype), c_prev), eye, no_hh, no_bias, no_bias)
    return torch.cat([h, c], dim=1)


def gru_cell(gx, gh, h_prev):
    # torch.nn.GRUCell's equations (reset, update, new), with the two projections given.
    rx, zx, nx = gx.chunk(3, dim=1)
    rh, zh, nh = gh.chunk(3, dim=1)
    r, z = torch.sigmoid(rx + rh), torch.sigmoid(zx + zh)
    n = torch.tanh(nx + r * nh)
    return (1 - z) * n + z * h_prev


def compute(spec, inputs, extra):
    """PyTorch's output for one case, and the extra tensors it predicts."""
    op = spec["op"]
    x = inputs[0]
    if op == "unary":
        return unary(x, spec), {}
    if op == "binary":
        return BINARY[spec["fn"]](x, inputs[1]), {}
    if op == "scalar_operands":
        return 2.0 - x * 3.0 + 1.0 / (x * x + 1.0), {}
    if op == "reduce":
        return REDUCE[spec["fn"]](x, spec["axes"], spec["keepdims"]), {}
    if op == "matmul":
        return torch.matmul(x, inputs[1]), {}
    if op == "matmul_transposed":
        return torch.matmul(x.t(), inputs[1].t()), {}
    if op == "outer":
        return torch.outer(x, inputs[1]), {}
    if op == "matmul_add":
        return x + inputs[1] @ inputs[2], {}
    if op == "reshape":
        return x.reshape(spec["shape"]), {}
    if op == "transpose":
        return x.transpose(*spec["axes"]), {}
    if op == "permute":
        return x.permute(*spec["order"]), {}
    if op == "slice":
        index = [slice(None)] * x.dim()
        index[spec["axis"]] = slice(spec["start"], spec["stop"], spec["step"])
        return x[tuple(index)], {}
    if op == "concat":
        return torch.cat([x, inputs[1], x], dim=spec["axis"]), {}
    if op == "broadcast_to":
        return x.expand(spec["shape"]), {}
    if op == "sum_to":
        return sum_to(x, spec["shape"]), {}
    if op == "softmax":
        return torch.softmax(x, dim=spec["axis"]), {}
    if op == "log_softmax":
        return torch.log_softmax(x, dim=spec["axis"]), {}
    if op == "cross_entropy":
        target = inputs[1].long() if inputs[1].dtype == torch.int32 else inputs[1]
        return F.cross_entropy(x, target), {}
    if op == "mse":
        return F.mse_loss(x, inputs[1]), {}
    if op == "dropout_evaluation":
        return F.dropout(x, spec["p"], training=False), {}
    if op == "im2col":
        return F.unfold(x, spec["kernel"], **conv_settings(spec)), {}
    if op == "col2im":
        return F.fold(x, spec["size"], spec["kernel"], **conv_settings(spec)), {}
    if op == "conv2d_columns":
        weight = inputs[1].reshape(spec["weight"])
        return F.conv2d(x, weight, inputs[2], **conv_settings(spec)).flatten(2), {}
    if op == "conv2d":
        bias = inputs[2] if len(inputs) > 2 else None
        return F.conv2d(x, inputs[1], bias, groups=spec["groups"], **conv_settings(spec)), {}
    if op in ("max_pool2d", "avg_pool2d"):
        pool = F.max_pool2d if op == "max_pool2d" else F.avg_pool2d
        return pool(x, pair(spec["kernel"]), pair(spec["stride"]), pair(spec["padding"])), {}
    if op in ("batch_norm", "batch_norm_stats"):
        return batch_norm(inputs, spec, extra, op == "batch_norm_stats")
    if op == "embedding":
        return F.embedding(inputs[1].long(), x), {}
    if op == "lstm_cell":
        return lstm_cell(x, inputs[1]), {}
    if op == "gru_cell":
        return gru_cell(*inputs), {}
    if op == "lstm":
        return lstm(inputs), {}
    if op == "gru":
        return gru(inputs), {}
    raise ValueError(f"no PyTorch counterpart for op {op!r}")


def differences(what, ours, theirs):
    if tuple(ours.shape) != tuple(theirs.shape):
        return [f"{what}: shape {tuple(ours.shape)}, PyTorch {tuple(theirs.shape)}"]
    error = ((ours - theirs).abs() / (1 + theirs.abs())).max().item() if ours.numel() else 0.0
    if not error <= TOLERANCE:
        where = int(((ours - theirs).abs() / (1 + theirs.abs())).flatten().argmax())
        return [
            f"{what}: differs by {error:.3g} (element {where}: stheno {ours.flatten()[where].item()!r}, "
            f"PyTorch {theirs.flatten()[where].item()!r})"
        ]
    return []


def check(name, spec, tensors):
    inputs, count = [], 0
    while f"{name}.in{count}" in tensors:
        t = tensors[f"{name}.in{count}"].clone()
        if t.dtype == torch.float64:
            t.requires_grad_(True)
        inputs.append(t)
        count += 1
    extra_names = [k[len(name) + 1 :] for k in tensors if k.startswith(name + ".")]
    extra = {k: tensors[f"{name}.{k}"] for k in extra_names}
    out, predicted = compute(spec, inputs, extra)
    problems = differences("output", tensors[f"{name}.out"], out.detach())
    differentiable = [i for i, t in enumerate(inputs) if t.requires_grad]
    cost = (out * tensors[f"{name}.r"]).sum()
    if cost.requires_grad:
        grads = torch.autograd.grad(cost, [inputs[i] for i in differentiable], allow_unused=True)
    else:  # an output that depends on no input (batch norm's statistics in evaluation mode)
        grads = [None] * len(differentiable)
    for i, g in zip(differentiable, grads):
        theirs = torch.zeros_like(inputs[i]) if g is None else g
        problems += differences(f"gradient of input {i}", tensors[f"{name}.grad{i}"], theirs)
    for key, theirs in predicted.items():
        problems += differences(key, tensors[f"{name}.{key}"], theirs)
    return problems


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "cases.safetensors")
        subprocess.run([sys.argv[1], path], check=True)
        tensors, specs = load_safetensors(path)
    failed = 0
    for name, text in sorted(specs.items()):
        problems = check(name, json.loads(text), tensors)
        for problem in problems:
            print(f"FAIL {name}: {problem}")
        failed += bool(problems)
    print(f"{len(specs) - failed} of {len(specs)} cases agree with PyTorch {torch.__version__} to {TOLERANCE:g}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
