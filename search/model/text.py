"""The fast text path: CLIP's causal text tower run over the real tokens only."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pixsift.search.model.tokens import real_token_length


class RealTokensTextModule(torch.nn.Module):
    """CLIP's causal text transformer over tokens already cut after the last end-of-text token.

    With a causal mask, position i attends to positions <= i, so the features at the
    end-of-text token are the same whether the padding after it is computed or not. Running
    only the real tokens gives the same embedding for a fraction of the cost (attention and MLP
    scale with the sequence length). The length is read from the input's shape, so the module
    exports to ONNX with a dynamic sequence axis."""

    def __init__(self, owner: Any, pool_type: str, eos_id: int | None) -> None:
        super().__init__()
        self.owner = owner
        self.pool_type = pool_type
        self.eos_id = eos_id

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        owner = self.owner
        length = tokens.shape[1]
        cast_dtype = owner.transformer.get_cast_dtype()
        x = owner.token_embedding(tokens).to(cast_dtype)
        x = x + owner.positional_embedding[:length].to(cast_dtype)
        x = owner.transformer(x, attn_mask=owner.attn_mask[:length, :length])
        x = owner.ln_final(x)
        x = text_global_pool(x, tokens, self.pool_type, eos_token_id=self.eos_id)
        projection = owner.text_projection
        if projection is not None:
            x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
        return x


class CausalTextTower:
    """The fast path for one model: cut the padding, run :class:`RealTokensTextModule`."""

    def __init__(self, owner: Any, pool_type: str, eos_id: int | None) -> None:
        self.module = RealTokensTextModule(owner, pool_type, eos_id)
        self.pool_type = pool_type
        self.eos_id = eos_id

    def real_length(self, tokens: np.ndarray | torch.Tensor) -> int:
        """Tokens up to and including the last end-of-text token of the batch."""
        return real_token_length(np.asarray(tokens), self.pool_type, self.eos_id)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.module(tokens[:, : self.real_length(tokens)])


def causal_text_tower(model: Any) -> CausalTextTower | None:
    """The fast path for ``model``'s text tower, or None where it would not be exact: a
    bidirectional tower (``no_causal_mask``), a class token or padding mask, pooling that does
    not read the end-of-text token, or a tower that is not open_clip's own (e.g. Hugging Face)."""
    from open_clip.transformer import TextTransformer

    text = getattr(model, "text", None)
    if text is not None:
        if not isinstance(text, TextTransformer):
            return None
        if text.cls_emb is not None or text.use_pad_mask:
            return None
        owner, pool_type, eos_id = text, text.pool_type, getattr(text, "eos_id", None)
    else:
        owner = model
        pool_type = getattr(model, "text_pool_type", None)
        eos_id = getattr(model, "text_eos_id", None)
    required = ("token_embedding", "positional_embedding", "transformer", "ln_final")
    if not all(hasattr(owner, name) for name in required):
        return None
    if getattr(owner, "attn_mask", None) is None:
        return None
    if pool_type not in ("argmax", "eos") or (pool_type == "eos" and eos_id is None):
        return None
    return CausalTextTower(owner, pool_type, eos_id)
