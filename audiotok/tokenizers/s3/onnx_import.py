"""Read the official S3 ONNX files into a state dict with the reference package's names.

The official graphs are torch exports, so parameters are found through the names of the
nodes that consume them (the initializer names themselves are mostly ``onnx::MatMul_123``):

- ``/conv1/Conv``, ``/conv2/Conv`` (or known initializer names, see `_CONV_INITIALIZERS`);
- ``/blocks.N/attn/{query,key,value,out}/{MatMul,Add}``, ``/blocks.N/mlp/mlp.{0,2}/...``:
  MatMul inputs are stored ``[in, out]`` and are transposed to torch's ``[out, in]``;
- LayerNorms as one ``/blocks.N/{attn_ln,mlp_ln}/LayerNormalization`` node (v2) or
  decomposed: ``.../Mul`` (scale) and an ``.../Add*`` whose constant is a vector (shift);
- FSMN: ``/blocks.N/attn/fsmn_block/Conv`` or an initializer ``blocks.N.attn.fsmn_block.weight``;
- v1 VQ: the codebook ``[width, codes]`` feeding ``.../_codebook/Pow_1``;
- FSQ: ``quantizer.project_in.bias`` and the MatMul of a ``quantizer`` node (v2's is the
  initializer ``onnx::MatMul_2536``).

Biases are initializers or ``Constant`` nodes (v3 stores some as constants).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiotok.errors import WeightsNotFoundError

# Conv initializer names of the three older official files (v1 50 Hz, v1 25 Hz, v2).
_CONV_INITIALIZERS = {
    "encoder.conv1.weight": ("onnx::Conv_1519", "encoders.conv1.weight", "onnx::Conv_2216"),
    "encoder.conv1.bias": ("onnx::Conv_1520", "encoders.conv1.bias", "onnx::Conv_2217"),
    "encoder.conv2.weight": ("onnx::Conv_1521", "encoders.conv2.weight", "onnx::Conv_2218"),
    "encoder.conv2.bias": ("onnx::Conv_1522", "encoders.conv2.bias", "onnx::Conv_2219"),
}
_V2_FSQ_WEIGHT = "onnx::MatMul_2536"
_FSQ_BIAS = "quantizer.project_in.bias"
_BLOCK = r"(?:^|/)blocks\.(\d+)/"
_LINEAR = re.compile(
    _BLOCK + r"(attn/query|attn/key|attn/value|attn/out|mlp/mlp\.0|mlp/mlp\.2)/(MatMul|Add)$"
)
_LN_FUSED = re.compile(_BLOCK + r"(attn_ln|mlp_ln)/LayerNormalization$")
_LN_PART = re.compile(_BLOCK + r"(attn_ln|mlp_ln)/(Mul|Add(?:_\d+)?)$")
_FSMN_NODE = re.compile(_BLOCK + r"attn/fsmn_block/Conv$")
_FSMN_INIT = re.compile(r"blocks\.(\d+)\.attn\.fsmn_block\.weight$")
_CONV_NODE = re.compile(r"(?:^|/)conv([12])/Conv$")


def sha256_of(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - onnx is installed in the dev env
        raise ImportError(
            "reading the official S3 ONNX checkpoints needs the `onnx` package: pip install onnx"
        ) from exc
    return onnx


def onnx_state_dict(path: str | Path, quantizer: str) -> dict[str, torch.Tensor]:
    """Parameters of an official S3 ONNX file under the reference package's names.

    ``quantizer`` ('vq' or 'fsq') says which quantizer rules apply (a VQ graph also has
    MatMul nodes under ``quantizer`` that are not an FSQ projection).
    """
    onnx = _import_onnx()
    model = onnx.load(str(path))
    tensors: dict[str, np.ndarray] = {
        init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer
    }
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    tensors[node.output[0]] = onnx.numpy_helper.to_array(attr.t)
    out: dict[str, np.ndarray] = {}

    def param(node: Any) -> np.ndarray | None:
        found = [tensors[name] for name in node.input if name in tensors]
        return found[0] if len(found) == 1 else None

    for ref_name, candidates in _CONV_INITIALIZERS.items():
        for name in candidates:
            if name in tensors:
                out[ref_name] = tensors[name]
    for name, value in tensors.items():
        if name.endswith("positional_embedding"):
            out["encoder.positional_embedding"] = value
        if match := _FSMN_INIT.search(name):
            out[f"encoder.blocks.{match[1]}.attn.fsmn_block.weight"] = value
    if quantizer == "fsq" and _FSQ_BIAS in tensors:
        out["quantizer._codebook.project_down.bias"] = tensors[_FSQ_BIAS]
    if quantizer == "fsq" and _V2_FSQ_WEIGHT in tensors:
        out["quantizer._codebook.project_down.weight"] = tensors[_V2_FSQ_WEIGHT].T

    for node in model.graph.node:
        name, op = node.name, node.op_type
        if match := _CONV_NODE.search(name):
            if len(node.input) > 1 and node.input[1] in tensors:
                out.setdefault(f"encoder.conv{match[1]}.weight", tensors[node.input[1]])
            if len(node.input) > 2 and node.input[2] in tensors:
                out.setdefault(f"encoder.conv{match[1]}.bias", tensors[node.input[2]])
        elif match := _LINEAR.search(name):
            found = param(node)
            if found is None:
                continue
            module = match[2].replace("attn/", "attn.").replace("mlp/mlp.", "mlp.")
            prefix = f"encoder.blocks.{match[1]}.{module}"
            if match[3] == "MatMul":
                out[f"{prefix}.weight"] = found.T
            else:
                out[f"{prefix}.bias"] = found
        elif match := _LN_FUSED.search(name):
            prefix = f"encoder.blocks.{match[1]}.{match[2]}"
            out[f"{prefix}.weight"] = tensors[node.input[1]]
            if len(node.input) > 2 and node.input[2] in tensors:
                out[f"{prefix}.bias"] = tensors[node.input[2]]
        elif match := _LN_PART.search(name):
            found = param(node)
            if found is None or found.size <= 1:  # the epsilon and the exponent are scalars
                continue
            kind = "weight" if match[3] == "Mul" else "bias"
            out[f"encoder.blocks.{match[1]}.{match[2]}.{kind}"] = found
        elif match := _FSMN_NODE.search(name):
            found = param(node)
            if found is not None:
                out[f"encoder.blocks.{match[1]}.attn.fsmn_block.weight"] = found
        elif quantizer == "vq" and name.endswith("_codebook/Pow_1"):
            found = param(node)
            if found is not None:
                out["quantizer._codebook.embed"] = found.T  # stored [width, codes]
        elif quantizer == "fsq" and "quantizer" in name and op == "MatMul":
            found = param(node)
            if found is not None:
                out["quantizer._codebook.project_down.weight"] = found.T
    return {key: torch.from_numpy(np.ascontiguousarray(value).copy()) for key, value in out.items()}


def check_sha256(path: str | Path, expected: str | None, what: str) -> None:
    """Refuse an ONNX file whose SHA-256 is not the published one."""
    if expected is None:
        return
    found = sha256_of(path)
    if found != expected:
        raise WeightsNotFoundError(
            f"{what}: {path} has SHA-256 {found}, but the published file has {expected}; "
            "the file is corrupt, truncated or another model. Re-download it, or pass "
            "verify_sha256=False if you made this file yourself."
        )
