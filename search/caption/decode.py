"""Greedy decoding of open_clip CoCa models, with a key/value cache and without one.

open_clip 3.3 has no key/value cache: its decoding re-runs the text tower and the multimodal
decoder over the whole sentence for every new token. :class:`CocaCache` keeps, per batch, the
image's cross-attention keys and values (computed once) and the keys and values of the tokens so
far in every self-attention layer of both towers, so each step runs one token through them.

Why the cached step equals the full forward (CoCa's text tower, ``TextTransformer``): its
attention is causal, so a token's output never depends on later ones; the CLS token it appends
sits after the sentence, so no sentence token sees it; its pad mask only hides pad tokens, and
decoding never feeds one to a row still running (pad is never chosen, and rows that ended leave
the batch). The decoder (``MultimodalTransformer``) has no positional embedding of its own and is
causal too; its cross-attention reads the image tokens after ``ln_1_kv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from open_clip.transformer import MultimodalTransformer, ResidualAttentionBlock, TextTransformer
from torch import Tensor, nn

KeysValues = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class SpecialTokens:
    """The token ids decoding starts with, stops at, and pads ended rows with."""

    start: int
    end: int
    pad: int


def cache_supported(model: nn.Module) -> bool:
    """Whether :class:`CocaCache` computes exactly what ``model``'s full forward does: open_clip's
    own causal text tower and decoder with plain attention blocks (a Hugging Face text tower or
    open_clip's custom blocks are decoded without the cache)."""
    text, decoder = getattr(model, "text", None), getattr(model, "text_decoder", None)
    if not isinstance(text, TextTransformer) or not isinstance(decoder, MultimodalTransformer):
        return False
    blocks = [*text.transformer.resblocks, *decoder.resblocks, *decoder.cross_attn]
    return (
        text.attn_mask is not None  # causal; a bidirectional tower sees later tokens
        and text.output_tokens
        and text.transformer.batch_first
        and decoder.batch_first
        and all(_plain_block(block) for block in blocks)
    )


def _plain_block(block: nn.Module) -> bool:
    if not isinstance(block, ResidualAttentionBlock):
        return False
    attention = block.attn
    return (
        isinstance(attention, nn.MultiheadAttention)
        and attention._qkv_same_embed_dim
        and attention.bias_k is None
        and not attention.add_zero_attn
    )


class CocaCache:
    """One batch's decoding state; :meth:`step` feeds one token per row and returns the logits
    of the next one."""

    def __init__(self, model: nn.Module, image_tokens: Tensor) -> None:
        self.text: TextTransformer = model.text
        self.decoder: MultimodalTransformer = model.text_decoder
        self.cross = [_cross_keys_values(block, image_tokens) for block in self.decoder.cross_attn]
        self.text_past: list[KeysValues | None] = [None] * len(self.text.transformer.resblocks)
        self.decoder_past: list[KeysValues | None] = [None] * len(self.decoder.resblocks)
        self.position = 0

    def step(self, token: Tensor) -> Tensor:
        """Logits [rows, vocabulary] after ``token`` [rows] at the next position."""
        logits, self.text_past, self.decoder_past = decoder_step(
            self.text, self.decoder, token, self.position,
            (self.text_past, self.decoder_past, self.cross),
        )  # fmt: skip
        self.position += 1
        return logits

    def keep(self, rows: Tensor) -> None:
        """Keep only ``rows`` (indices into the current batch) in every cache."""

        def pick(kv: KeysValues | None) -> KeysValues | None:
            return None if kv is None else (kv[0][rows], kv[1][rows])

        self.cross = [pick(kv) for kv in self.cross]  # type: ignore[misc]
        self.text_past = [pick(kv) for kv in self.text_past]
        self.decoder_past = [pick(kv) for kv in self.decoder_past]


def decoder_step(
    text: TextTransformer,
    decoder: MultimodalTransformer,
    token: Tensor,
    position: int | Tensor,
    caches: tuple[list[KeysValues | None], list[KeysValues | None], list[KeysValues]],
) -> tuple[Tensor, list[KeysValues | None], list[KeysValues | None]]:
    """One token per row through both towers: (logits [rows, vocabulary], the text tower's and
    the decoder's self-attention keys/values with this token's appended). ``caches`` holds those
    two (None for a layer before the first token) and the image's cross-attention keys/values."""
    text_past, decoder_past, cross = caches
    dtype = text.transformer.get_cast_dtype()
    x = text.token_embedding(token[:, None]).to(dtype)
    x = x + text.positional_embedding[position].to(dtype)
    text_kv, decoder_kv = [], []
    for block, past in zip(text.transformer.resblocks, text_past, strict=True):
        x, kv = _self_step(block, x, past)
        text_kv.append(kv)
    if text.cls_emb is None:  # without a CLS token the tower's tokens are normed
        x = text.ln_final(x)
    layers = zip(decoder.resblocks, decoder.cross_attn, decoder_past, cross, strict=True)
    for block, cross_block, past, image in layers:
        x, kv = _self_step(block, x, past)
        decoder_kv.append(kv)
        x = _cross_step(cross_block, x, image)
    x = decoder.ln_final(x)
    if decoder.text_projection is not None:
        x = x @ decoder.text_projection
    return x[:, 0], text_kv, decoder_kv  # type: ignore[return-value]


def _heads(x: Tensor, heads: int) -> Tensor:
    """[batch, length, width] -> [batch, heads, length, width / heads]."""
    batch, length, width = x.shape
    return x.view(batch, length, heads, width // heads).transpose(1, 2)


def _merge(x: Tensor) -> Tensor:
    batch, heads, length, head_width = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_width)


def _projection(attention: nn.MultiheadAttention, part: int) -> tuple[Tensor, Tensor | None]:
    """The query (0), key (1) or value (2) part of ``attention``'s packed input projection."""
    width = attention.embed_dim
    weight = attention.in_proj_weight[part * width : (part + 1) * width]
    bias = attention.in_proj_bias
    return weight, None if bias is None else bias[part * width : (part + 1) * width]


def _self_step(
    block: ResidualAttentionBlock, x: Tensor, past: KeysValues | None
) -> tuple[Tensor, KeysValues]:
    """``block`` on the new token ``x`` [batch, 1, width], its keys/values appended to ``past``.
    No mask: the new token is the last one, and a causal mask lets it see every earlier token."""
    attention = block.attn
    packed = F.linear(block.ln_1(x), attention.in_proj_weight, attention.in_proj_bias)
    query, key, value = (_heads(part, attention.num_heads) for part in packed.chunk(3, dim=-1))
    if past is not None:
        key, value = torch.cat([past[0], key], dim=2), torch.cat([past[1], value], dim=2)
    attended = F.scaled_dot_product_attention(query, key, value)
    x = x + block.ls_1(attention.out_proj(_merge(attended)))
    x = x + block.ls_2(block.mlp(block.ln_2(x)))
    return x, (key, value)


def _cross_keys_values(block: ResidualAttentionBlock, image_tokens: Tensor) -> KeysValues:
    """The image's keys and values in one cross-attention block, computed once per batch."""
    attention = block.attn
    normed = block.ln_1_kv(image_tokens)
    key = F.linear(normed, *_projection(attention, 1))
    value = F.linear(normed, *_projection(attention, 2))
    return _heads(key, attention.num_heads), _heads(value, attention.num_heads)


def _cross_step(block: ResidualAttentionBlock, x: Tensor, image: KeysValues) -> Tensor:
    attention = block.attn
    query = _heads(F.linear(block.ln_1(x), *_projection(attention, 0)), attention.num_heads)
    attended = F.scaled_dot_product_attention(query, *image)
    x = x + block.ls_1(attention.out_proj(_merge(attended)))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def _choose(logits: Tensor, special: SpecialTokens) -> Tensor:
    logits[:, [special.pad, special.start]] = float("-inf")  # never a prompt or padding
    return logits.argmax(dim=-1)


@torch.inference_mode()
def greedy_cached(
    model: nn.Module, pixels: Tensor, special: SpecialTokens, max_tokens: int
) -> list[list[int]]:
    """Each picture's greedily chosen token ids (without start and end), the whole batch at
    once; a row leaves the batch (and its caches) when it chooses the end token."""
    _, image_tokens = model._encode_image(pixels)
    return greedy_steps(CocaCache(model, image_tokens), pixels.shape[0], special, max_tokens)


def greedy_steps(
    cache: CocaCache | Any, batch: int, special: SpecialTokens, max_tokens: int
) -> list[list[int]]:
    """Greedy decoding of ``batch`` rows with ``cache`` (anything with :meth:`CocaCache.step`
    and :meth:`CocaCache.keep`, e.g. the ONNX Runtime step of search.caption.decode_onnx)."""
    rows = torch.arange(batch)  # the picture each running row decodes
    chosen: list[list[int]] = [[] for _ in range(batch)]
    token = torch.full((batch,), special.start, dtype=torch.long)
    for _ in range(max_tokens):
        token = _choose(cache.step(token), special)
        going = token != special.end
        for row, value in zip(rows[going].tolist(), token[going].tolist(), strict=True):
            chosen[row].append(value)
        if not bool(going.any()):
            break
        if not bool(going.all()):
            kept = going.nonzero()[:, 0]
            cache.keep(kept)
            rows, token = rows[kept], token[kept]
    return chosen


@torch.inference_mode()
def greedy_uncached(
    model: nn.Module, pixels: Tensor, special: SpecialTokens, max_tokens: int
) -> list[list[int]]:
    """:func:`greedy_cached` the way open_clip computes it: the text tower and the decoder over
    the whole sentence at every step (for models the cache does not support, and as the
    reference the cache is checked against)."""
    _, image_tokens = model._encode_image(pixels)
    batch = pixels.shape[0]
    tokens = torch.full((batch, 1), special.start, dtype=torch.long)
    finished = torch.zeros(batch, dtype=torch.bool)
    for _ in range(max_tokens):
        _, text_tokens = model._encode_text(tokens)
        chosen = _choose(model.text_decoder(image_tokens, text_tokens)[:, -1], special)
        chosen[finished] = special.pad
        tokens = torch.cat([tokens, chosen[:, None]], dim=1)
        finished |= chosen == special.end
        if bool(finished.all()):
            break
    return [
        [int(t) for t in row[1:] if int(t) not in (special.end, special.pad)]
        for row in tokens.tolist()
    ]


def greedy(
    model: nn.Module, pixels: Tensor, special: SpecialTokens, max_tokens: int
) -> list[list[int]]:
    """Greedy decoding, with the key/value cache where the model's towers allow it."""
    decode = greedy_cached if cache_supported(model) else greedy_uncached
    return decode(model, pixels, special, max_tokens)
