#!/usr/bin/env python3
"""Export a PyTorch nn.Sequential 1-D CNN to the deepresolve-mpi native HDF5 model format.

Native model format (HDF5, format_version 1):
  root attrs   format = "deepresolve-mpi-model" (str), format_version = 1 (int64),
               input_shape = [K, W] (int64[2]: channels, sequence length)
  /class_names optional dataset of variable-length UTF-8 strings, one per output unit
  /layers/NNNN one group per layer, NNNN = 0-based index zero-padded to 4 digits.
               Every group has str attrs `kind` and `name`; integers are int64 scalars.
    conv1d            attrs filters, kernel_size, stride, dilation, padding ("valid"|"same"),
                      activation ("linear"); datasets kernel f32 (filters, in_channels,
                      kernel_size), bias f32 (filters) [optional]
    maxpool1d         attrs pool_size, stride, padding ("valid")
    global_maxpool1d, global_avgpool1d   no attrs
    flatten           attr order ("channel_major": index k*W+p | "position_major": p*K+k)
    dense             attrs units, activation ("linear"); datasets kernel f32
                      (units, in_features), bias f32 (units)
    activation        attr activation in relu|sigmoid|tanh|elu|softplus|softmax|linear
    dropout           attr rate (float64)
    batchnorm         attr epsilon (float64); datasets gamma, beta, running_mean,
                      running_var f32 (channels)

One native layer is written per nn module, in order. Supported modules: Conv1d, MaxPool1d,
ReLU, Sigmoid, Tanh, ELU (alpha=1), Softplus (beta=1), Flatten, Linear, Dropout,
BatchNorm1d (eval-mode running statistics). Anything else is refused.

Usage:
  python jobs/export_pytorch.py MODEL.pt OUT.h5 --input-shape K W [--class-names FILE]
MODEL.pt is torch.save(model) of a whole nn.Sequential; FILE has one class name per line.
"""
import argparse
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

FORMAT = "deepresolve-mpi-model"
FORMAT_VERSION = 1


class ExportError(ValueError):
    pass


def _int1(v, what, idx, mod):
    """Collapse a PyTorch int-or-1-tuple parameter to an int."""
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ExportError(f"module {idx} ({type(mod).__name__}): {what}={v!r} is not 1-D")
        v = v[0]
    return int(v)


def _refuse(idx, mod, why):
    raise ExportError(f"module {idx} ({type(mod).__name__}): {why}")


def _f32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def _layer_specs(model):
    """Yield (kind, name, attrs, datasets, out_shape) per module; tracks the (K, W) / flat shape."""
    specs = []
    for idx, mod in enumerate(model):
        tname = type(mod).__name__
        name = f"{tname.lower()}_{idx}"
        attrs, data = {}, {}
        if isinstance(mod, nn.Conv1d):
            if mod.padding_mode != "zeros":
                _refuse(idx, mod, f"padding_mode={mod.padding_mode!r} unsupported (only 'zeros')")
            if mod.groups != 1:
                _refuse(idx, mod, f"groups={mod.groups} unsupported (only 1)")
            k = _int1(mod.kernel_size, "kernel_size", idx, mod)
            s = _int1(mod.stride, "stride", idx, mod)
            d = _int1(mod.dilation, "dilation", idx, mod)
            p = mod.padding
            if isinstance(p, str):
                if p not in ("same", "valid"):
                    _refuse(idx, mod, f"padding={p!r} unsupported")
                pad = p
            else:
                p = _int1(p, "padding", idx, mod)
                if p == 0:
                    pad = "valid"
                elif s == 1 and 2 * p == d * (k - 1):
                    pad = "same"
                else:
                    _refuse(idx, mod, f"padding={p} with kernel_size={k}, stride={s}, dilation={d} "
                                      f"is neither 'valid' (0) nor 'same' (stride 1, 2*p == dilation*(k-1))")
            if pad == "same" and s != 1:
                _refuse(idx, mod, "padding='same' requires stride 1")
            kind = "conv1d"
            attrs = dict(filters=mod.out_channels, kernel_size=k, stride=s, dilation=d,
                         padding=pad, activation="linear")
            data["kernel"] = _f32(mod.weight)
            if mod.bias is not None:
                data["bias"] = _f32(mod.bias)
        elif isinstance(mod, nn.MaxPool1d):
            if mod.ceil_mode:
                _refuse(idx, mod, "ceil_mode=True unsupported")
            if _int1(mod.dilation, "dilation", idx, mod) != 1:
                _refuse(idx, mod, f"dilation={mod.dilation} unsupported (only 1)")
            if _int1(mod.padding, "padding", idx, mod) != 0:
                _refuse(idx, mod, f"padding={mod.padding} unsupported (only 0 / 'valid')")
            if mod.return_indices:
                _refuse(idx, mod, "return_indices=True unsupported")
            k = _int1(mod.kernel_size, "kernel_size", idx, mod)
            s = mod.stride if mod.stride is not None else k
            s = _int1(s, "stride", idx, mod)
            kind = "maxpool1d"
            attrs = dict(pool_size=k, stride=s, padding="valid")
        elif isinstance(mod, (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.Softplus)):
            if isinstance(mod, nn.ELU) and float(mod.alpha) != 1.0:
                _refuse(idx, mod, f"alpha={mod.alpha} unsupported (only 1.0)")
            if isinstance(mod, nn.Softplus) and (float(mod.beta) != 1.0 or float(mod.threshold) != 20.0):
                _refuse(idx, mod, f"beta={mod.beta}, threshold={mod.threshold} unsupported (only defaults)")
            kind = "activation"
            attrs = dict(activation=tname.lower())
        elif isinstance(mod, nn.Flatten):
            if mod.start_dim != 1 or mod.end_dim != -1:
                _refuse(idx, mod, f"start_dim={mod.start_dim}, end_dim={mod.end_dim} unsupported (only 1, -1)")
            kind = "flatten"
            attrs = dict(order="channel_major")
        elif isinstance(mod, nn.Linear):
            kind = "dense"
            attrs = dict(units=mod.out_features, activation="linear")
            data["kernel"] = _f32(mod.weight)
            if mod.bias is not None:
                data["bias"] = _f32(mod.bias)
            else:
                data["bias"] = np.zeros(mod.out_features, dtype=np.float32)
        elif isinstance(mod, nn.Dropout):
            kind = "dropout"
            attrs = dict(rate=float(mod.p))
        elif isinstance(mod, nn.BatchNorm1d):
            if not mod.track_running_stats or mod.running_mean is None:
                _refuse(idx, mod, "track_running_stats=False unsupported (need running statistics)")
            kind = "batchnorm"
            attrs = dict(epsilon=float(mod.eps))
            c = mod.num_features
            data["gamma"] = _f32(mod.weight) if mod.weight is not None else np.ones(c, np.float32)
            data["beta"] = _f32(mod.bias) if mod.bias is not None else np.zeros(c, np.float32)
            data["running_mean"] = _f32(mod.running_mean)
            data["running_var"] = _f32(mod.running_var)
        else:
            _refuse(idx, mod, "module type not supported by the deepresolve-mpi exporter")
        specs.append((kind, name, attrs, data))
    return specs


def export(model, input_shape, path, class_names=None):
    """Write `model` (nn.Sequential) with input (K, W) to `path` in the native format.

    Runs a dummy forward pass (eval mode, no grad) to check the shapes fit together.
    Returns the list of (kind, name) written.
    """
    if not isinstance(model, nn.Sequential):
        raise ExportError(f"expected nn.Sequential, got {type(model).__name__}")
    K, W = (int(x) for x in input_shape)
    specs = _layer_specs(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            params = list(model.parameters())
            dtype = params[0].dtype if params else torch.float32
            out = model(torch.zeros(1, K, W, dtype=dtype))
    except Exception as e:  # shape mismatch etc.
        raise ExportError(f"model does not run on input shape ({K}, {W}): {e}") from e
    finally:
        model.train(was_training)
    n_out = int(np.prod(out.shape[1:]))
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) != n_out:
            raise ExportError(f"{len(class_names)} class names given but the model has {n_out} outputs")
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["input_shape"] = np.array([K, W], dtype=np.int64)
        if class_names is not None:
            f.create_dataset("class_names", data=class_names, dtype=h5py.string_dtype())
        layers = f.create_group("layers")
        for i, (kind, name, attrs, data) in enumerate(specs):
            g = layers.create_group(f"{i:04d}")
            g.attrs["kind"] = kind
            g.attrs["name"] = name
            for k, v in attrs.items():
                if isinstance(v, str):
                    g.attrs[k] = v
                elif isinstance(v, float):
                    g.attrs[k] = np.float64(v)
                else:
                    g.attrs[k] = np.int64(v)
            for k, v in data.items():
                g.create_dataset(k, data=np.ascontiguousarray(v, dtype=np.float32))
    return [(kind, name) for kind, name, _, _ in specs]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("module_file", help="torch.save(model) of a whole nn.Sequential")
    ap.add_argument("out", help="output .h5 path")
    ap.add_argument("--input-shape", nargs=2, type=int, metavar=("K", "W"), required=True)
    ap.add_argument("--class-names", metavar="FILE", help="text file, one class name per line")
    a = ap.parse_args(argv)
    model = torch.load(a.module_file, map_location="cpu", weights_only=False)
    names = None
    if a.class_names:
        with open(a.class_names, encoding="utf-8") as fh:
            names = [ln.strip() for ln in fh if ln.strip()]
    try:
        layers = export(model, a.input_shape, a.out, names)
    except ExportError as e:
        print(f"export_pytorch: error: {e}", file=sys.stderr)
        return 1
    for i, (kind, name) in enumerate(layers):
        print(f"{i:04d} {kind:12s} {name}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
