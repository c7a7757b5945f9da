"""The fast text path: CLIP's causal text tower run over the real tokens only."""

from __future__ import annotations

from typing import Any

import torch


class CausalTextTower:
    """CLIP's causal text transformer run over the real tokens only.

    With a causal mask, position i attends to positions <= i, so the features at the
    end-of-text token are the same whether the padding after it is computed or not. Running
    ``n`` = (last end-of-text position + 1) tokens instead of the full context gives the same
    embedding for a fraction of the cost (attention and MLP scale with the sequence length).
    """

    def __init__(self, owner: Any, pool_type: str, eos_id: int | None) -> None:
        self.owner = owner
        self.pool_type = pool_type
        self.eos_id = eos_id

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        owner = self.owner
        if self.pool_type == "argmax":
            ends = tokens.argmax(dim=-1)
        else:
            ends = (tokens == self.eos_id).int().argmax(dim=-1)
        length = int(ends.max().item()) + 1
        tokens = tokens[:, :length]
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
