"""The cached decoder step of an open_clip CoCa (search.caption.decode) as an ONNX Runtime graph.

One graph runs one token per row through the text tower and the decoder: inputs the token, its
position, the self-attention keys/values so far of both towers (stacked per layer:
[layers, rows, heads, tokens, head width], zero tokens before the first step) and the image's
cross-attention keys/values; outputs the logits and the keys/values with this token appended.
The image tower and the cross-attention keys/values stay in torch (once per batch).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from pixsift.search.caption.decode import (
    KeysValues,
    SpecialTokens,
    _cross_keys_values,
    decoder_step,
    greedy_steps,
)

INPUTS = ("token", "position", "text_keys", "text_values", "decoder_keys", "decoder_values",
          "cross_keys", "cross_values")  # fmt: skip
OUTPUTS = ("logits", "text_keys_out", "text_values_out", "decoder_keys_out", "decoder_values_out")


class _Step(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.text, self.decoder = model.text, model.text_decoder

    def forward(
        self,
        token: Tensor,
        position: Tensor,
        text_keys: Tensor,
        text_values: Tensor,
        decoder_keys: Tensor,
        decoder_values: Tensor,
        cross_keys: Tensor,
        cross_values: Tensor,
    ) -> tuple[Tensor, ...]:
        def layers(keys: Tensor, values: Tensor) -> list[KeysValues]:
            return [(keys[i], values[i]) for i in range(keys.shape[0])]

        caches = (
            layers(text_keys, text_values),
            layers(decoder_keys, decoder_values),
            layers(cross_keys, cross_values),
        )
        logits, text_kv, decoder_kv = decoder_step(self.text, self.decoder, token, position, caches)
        return (logits, *_stack(text_kv), *_stack(decoder_kv))  # type: ignore[arg-type]


def _stack(kvs: list[KeysValues]) -> tuple[Tensor, Tensor]:
    return torch.stack([k for k, _ in kvs]), torch.stack([v for _, v in kvs])


def export_decoder_step(model: nn.Module, path: Path) -> None:
    """Write ``model``'s cached decoder step to ``path`` (rows and tokens are dynamic)."""
    model = model.eval()
    with torch.no_grad():
        size = model.visual.image_size
        _, image_tokens = model._encode_image(torch.zeros(2, 3, *size))
        cross = _stack([_cross_keys_values(block, image_tokens) for block in
                        model.text_decoder.cross_attn])  # fmt: skip
        text_layers = len(model.text.transformer.resblocks)
        heads, width = model.text.heads, model.text.width
        decoder_layers = len(model.text_decoder.resblocks)
        counts = (text_layers, text_layers, decoder_layers, decoder_layers)
        past = [torch.zeros(layers, 2, heads, 2, width // heads) for layers in counts]
        rows = torch.export.Dim("rows", min=1, max=4096)
        tokens = torch.export.Dim("tokens", min=1, max=int(model.text.num_pos))
        cached = {1: rows, 3: tokens}
        shapes = ({0: rows}, None, cached, cached, cached, cached, {1: rows}, {1: rows})
        sample = (torch.tensor([3, 4]), torch.tensor(2), *past, *cross)
        # The exporter reports its progress on stdout; a CLI command's output is the user's.
        with contextlib.redirect_stdout(io.StringIO()):
            torch.onnx.export(
                _Step(model).eval(),
                sample,
                str(path),
                input_names=list(INPUTS),
                output_names=list(OUTPUTS),
                dynamic_shapes=shapes,
                dynamo=True,
            )


class OnnxCache:
    """:class:`search.caption.decode.CocaCache`'s step and keep, run by ONNX Runtime."""

    def __init__(self, session: object, model: nn.Module, image_tokens: Tensor) -> None:
        self.session = session
        with torch.no_grad():
            cross = [_cross_keys_values(block, image_tokens) for block in
                     model.text_decoder.cross_attn]  # fmt: skip
        keys, values = (t.numpy() for t in _stack(cross))
        text_layers, decoder_layers = len(model.text.transformer.resblocks), len(cross)
        rows, heads, _, head_width = cross[0][0].shape
        self.arrays = {
            "text_keys": np.zeros((text_layers, rows, heads, 0, head_width), np.float32),
            "text_values": np.zeros((text_layers, rows, heads, 0, head_width), np.float32),
            "decoder_keys": np.zeros((decoder_layers, rows, heads, 0, head_width), np.float32),
            "decoder_values": np.zeros((decoder_layers, rows, heads, 0, head_width), np.float32),
            "cross_keys": keys,
            "cross_values": values,
        }
        self.position = 0

    def step(self, token: Tensor) -> Tensor:
        position = np.array(self.position, np.int64)
        outputs = self.session.run(None, {"token": token.numpy(), "position": position,
                                          **self.arrays})  # type: ignore[attr-defined]  # fmt: skip
        for name, array in zip(INPUTS[2:6], outputs[1:], strict=True):
            self.arrays[name] = array
        self.position += 1
        return torch.from_numpy(outputs[0])

    def keep(self, rows: Tensor) -> None:
        kept = rows.numpy()
        self.arrays = {name: array[:, kept] for name, array in self.arrays.items()}


def onnx_session(path: Path, threads: int = 1) -> object:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@torch.inference_mode()
def greedy_onnx(
    session: object, model: nn.Module, pixels: Tensor, special: SpecialTokens, max_tokens: int
) -> list[list[int]]:
    """search.caption.decode.greedy_cached with the decoder step run by ONNX Runtime."""
    _, image_tokens = model._encode_image(pixels)
    cache = OnnxCache(session, model, image_tokens)
    return greedy_steps(cache, pixels.shape[0], special, max_tokens)
