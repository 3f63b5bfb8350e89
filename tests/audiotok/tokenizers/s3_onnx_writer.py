"""Write S3 ONNX files laid out like the official ones, from a reference state dict.

Only the parts a weight reader looks at are reproduced: the names of the nodes that consume
each parameter, the initializer names the reference converter keys on, MatMul weights stored
``[in, out]``, v1's codebook stored ``[width, codes]`` behind ``.../_codebook/Pow_1``,
LayerNorms fused (v2) or decomposed (v1, v3), v3 biases as ``Constant`` nodes. The graph is
a chain of those nodes; it is for reading weights, not for running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

CONV_NAMES = {
    "v1_50hz": ("onnx::Conv_1519", "onnx::Conv_1520", "onnx::Conv_1521", "onnx::Conv_1522"),
    "v1_25hz": (
        "encoders.conv1.weight",
        "encoders.conv1.bias",
        "encoders.conv2.weight",
        "encoders.conv2.bias",
    ),
    "v2": ("onnx::Conv_2216", "onnx::Conv_2217", "onnx::Conv_2218", "onnx::Conv_2219"),
    "v3": ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"),
}


class _Graph:
    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.last = "mel"
        self.count = 0

    def tensor(self, name: str, value: torch.Tensor, *, constant: bool = False) -> str:
        array = np.ascontiguousarray(value.detach().cpu().numpy().astype(np.float32))
        proto = self.numpy_helper.from_array(array, name)
        if constant:
            self.nodes.append(
                self.helper.make_node("Constant", [], [name], name=f"/Constant_{name}", value=proto)
            )
        else:
            self.initializers.append(proto)
        return name

    def node(self, op: str, name: str, *params: str) -> None:
        self.count += 1
        out = f"{name}_output_{self.count}"
        self.nodes.append(self.helper.make_node(op, [self.last, *params], [out], name=name))
        self.last = out

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count + 3000}"


def write_official_like_onnx(state: dict[str, torch.Tensor], preset: str, path: Path) -> Path:
    """An ONNX file for ``preset`` (``v1_50hz``, ``v1_25hz``, ``v2``, ``v3``) holding the
    reference-named ``state``."""
    import onnx

    g = _Graph()
    conv = CONV_NAMES[preset]
    for i, layer in enumerate(("conv1", "conv2")):
        w = g.tensor(conv[2 * i], state[f"encoder.{layer}.weight"])
        b = g.tensor(conv[2 * i + 1], state[f"encoder.{layer}.bias"])
        g.node("Conv", f"/{layer}/Conv", w, b)
    if "encoder.positional_embedding" in state:
        g.node(
            "Add",
            "/Add",
            g.tensor("encoders.positional_embedding", state["encoder.positional_embedding"]),
        )
    blocks = sorted({int(k.split(".")[2]) for k in state if k.startswith("encoder.blocks.")})
    for n in blocks:
        p = f"encoder.blocks.{n}"
        _layer_norm(g, preset, n, "attn_ln", state)
        for module in ("query", "key", "value", "out"):
            weight = g.tensor(g.fresh("onnx::MatMul"), state[f"{p}.attn.{module}.weight"].t())
            g.node("MatMul", f"/blocks.{n}/attn/{module}/MatMul", weight)
            if f"{p}.attn.{module}.bias" in state:
                constant = preset == "v3"
                bias = g.tensor(
                    g.fresh("attn_bias"), state[f"{p}.attn.{module}.bias"], constant=constant
                )
                g.node("Add", f"/blocks.{n}/attn/{module}/Add", bias)
        if f"{p}.attn.fsmn_block.weight" in state:
            fsmn = state[f"{p}.attn.fsmn_block.weight"]
            name = f"blocks.{n}.attn.fsmn_block.weight" if preset == "v3" else g.fresh("onnx::Conv")
            g.node("Conv", f"/blocks.{n}/attn/fsmn_block/Conv", g.tensor(name, fsmn))
        _layer_norm(g, preset, n, "mlp_ln", state)
        for index in (0, 2):
            weight = g.tensor(g.fresh("onnx::MatMul"), state[f"{p}.mlp.{index}.weight"].t())
            g.node("MatMul", f"/blocks.{n}/mlp/mlp.{index}/MatMul", weight)
            bias = g.tensor(g.fresh("mlp_bias"), state[f"{p}.mlp.{index}.bias"])
            g.node("Add", f"/blocks.{n}/mlp/mlp.{index}/Add", bias)
    if "quantizer._codebook.embed" in state:
        codebook = g.tensor(g.fresh("onnx::Pow"), state["quantizer._codebook.embed"].t())
        g.node("Pow", "/quantizer/rq/model/layers.0/_codebook/Pow_1", codebook)
    else:
        name = "onnx::MatMul_2536" if preset == "v2" else g.fresh("onnx::MatMul")
        weight = g.tensor(name, state["quantizer._codebook.project_down.weight"].t())
        g.node("MatMul", "/quantizer/project_in/MatMul", weight)
        bias = g.tensor("quantizer.project_in.bias", state["quantizer._codebook.project_down.bias"])
        g.node("Add", "/quantizer/project_in/Add", bias)
    helper = g.helper
    graph = helper.make_graph(
        g.nodes,
        "speech_tokenizer",
        [helper.make_tensor_value_info("mel", onnx.TensorProto.FLOAT, [1, 128, None])],
        [helper.make_tensor_value_info(g.last, onnx.TensorProto.FLOAT, None)],
        initializer=g.initializers,
    )
    onnx.save(helper.make_model(graph), str(path))
    return path


def _layer_norm(g: _Graph, preset: str, n: int, which: str, state: dict[str, torch.Tensor]) -> None:
    weight, bias = (
        state[f"encoder.blocks.{n}.{which}.weight"],
        state[f"encoder.blocks.{n}.{which}.bias"],
    )
    if preset == "v2":  # torch >= 2 exports one LayerNormalization node
        w, b = g.tensor(g.fresh("ln_w"), weight), g.tensor(g.fresh("ln_b"), bias)
        g.node("LayerNormalization", f"/blocks.{n}/{which}/LayerNormalization", w, b)
        return
    # Decomposed: (x - mean) / sqrt(var + eps) * weight + bias; eps is a scalar Constant.
    eps = g.tensor(g.fresh("eps"), torch.tensor(1e-5), constant=True)
    g.node("Add", f"/blocks.{n}/{which}/Add", eps)
    g.node("Mul", f"/blocks.{n}/{which}/Mul", g.tensor(g.fresh("onnx::Mul"), weight))
    g.node("Add", f"/blocks.{n}/{which}/Add_1", g.tensor(g.fresh("onnx::Add"), bias))
