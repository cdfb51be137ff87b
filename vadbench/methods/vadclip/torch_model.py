"""VadCLIP as pure ``nn.Module``s (spec ``vadclip.md`` section 5); no training glue here.

Module and parameter names follow the official ``src/model.py`` where they can, so an official checkpoint maps
onto this model with :func:`official_state_dict` (prefixes ``adapter.`` / ``prompt.`` added).

Speed-ups that change nothing but floating-point rounding (each one checked against the literal form in
``tests/test_vadclip_model.py``):

- the non-overlapping windowed attention is computed window by window (``(B*T/w, w, D)``) instead of a dense
  ``T x T`` attention with an additive ``-inf`` mask (identical weights: ``exp(-inf) = 0``);
- the frozen text transformer runs on the first ``max(EOT)+1`` positions only (CLIP's causal mask makes the
  EOT output independent of later positions);
- the distance adjacency is a buffer broadcast over the batch instead of a per-call ``repeat``.

Example:
    >>> import torch
    >>> m = window_mask(16, 4)
    >>> int((m == 0).sum()), m.shape
    (64, torch.Size([16, 16]))
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.errors import ConfigError

# -- building blocks -----------------------------------------------------------------------------------------


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)`` (CLIP's activation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def _mlp(width: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            [
                ("c_fc", nn.Linear(width, width * 4)),
                ("gelu", QuickGELU()),
                ("c_proj", nn.Linear(width * 4, width)),
            ]
        )
    )


def window_mask(length: int, window: int, mode: str = "non_overlapping") -> torch.Tensor:
    """The additive ``(length, length)`` attention mask: 0 inside a window, ``-inf`` elsewhere.

    ``non_overlapping`` is the official ``build_attention_mask`` (block diagonal). ``overlapping`` is the
    paper's wording with a stride of ``window/2`` [reconstruction]: i and j see each other when some window
    ``[s, s+w)``, ``s`` a multiple of ``w/2``, holds both, i.e. ``|i//(w/2) - j//(w/2)| <= 1``.
    """
    if window < 1 or window > length:
        raise ConfigError(f"VadCLIP window must be in [1, visual_length={length}], got {window}")
    idx = torch.arange(length)
    if mode == "non_overlapping":
        if length % window:
            raise ConfigError(
                f"VadCLIP window {window} does not divide visual_length {length}: the official mask would "
                f"leave rows {length // window * window}..{length - 1} without any key (NaN)"
            )
        allowed = (idx[:, None] // window) == (idx[None, :] // window)
    elif mode == "overlapping":
        if window % 2:
            raise ConfigError(f"window_mode=overlapping needs an even window (stride w/2), got {window}")
        half = window // 2
        allowed = ((idx[:, None] // half) - (idx[None, :] // half)).abs() <= 1
    else:
        raise ConfigError(f"unknown window_mode {mode!r}; expected non_overlapping or overlapping")
    mask = torch.zeros(length, length)
    mask.masked_fill_(~allowed, float("-inf"))
    return mask


def valid_mask(lengths: torch.Tensor, length: int) -> torch.Tensor:
    """``(B, length)`` bool: position < valid length."""
    return torch.arange(length, device=lengths.device)[None, :] < lengths[:, None]


class ResidualAttentionBlock(nn.Module):
    """CLIP-style pre-LN block: LN -> MHA -> residual; LN -> MLP(QuickGELU) -> residual."""

    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)  # sequence-first, as the official code
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = _mlp(d_model)
        self.ln_2 = nn.LayerNorm(d_model)

    def attention(self, x: torch.Tensor, attn_mask: torch.Tensor | None, window: int | None) -> torch.Tensor:
        """``x`` is ``(B, T, D)``. ``window`` set: attention within each non-overlapping window (sequences of
        ``w``); else over the whole sequence. ``attn_mask`` is additive, broadcastable to ``(N, 1, L, L)``.

        The projections use the ``nn.MultiheadAttention`` weights (same parameters and math as calling the
        module, checked in the tests) without its sequence-first transposes and q/k/v copies.
        """
        b, t, d = x.shape
        heads = self.attn.num_heads
        n, length = (b * (t // window), window) if window is not None else (b, t)
        qkv = F.linear(x, self.attn.in_proj_weight, self.attn.in_proj_bias).view(
            n, length, 3, heads, d // heads
        )
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (N, heads, L, d/heads) each
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out = out.transpose(1, 2).reshape(b, t, d)
        return F.linear(out, self.attn.out_proj.weight, self.attn.out_proj.bias)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None, window: int | None) -> torch.Tensor:
        x = x + self.attention(self.ln_1(x), attn_mask, window)
        return x + self.mlp(self.ln_2(x))


class LocalTransformer(nn.Module):
    """The local (windowed) temporal transformer: ``layers`` blocks sharing one additive window mask.

    ``padding`` masks padded keys (the official code passes ``None``; ``mask_padding`` option). A padded
    query keeps itself as a key so that no row of the softmax is empty.
    """

    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        length: int,
        window: int,
        window_mode: str = "non_overlapping",
        blocked: bool = True,
    ) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.heads, self.window, self.length = heads, window, length
        self.blocked = blocked and window_mode == "non_overlapping"
        self.register_buffer("attn_mask", window_mask(length, window, window_mode), persistent=False)

    def _masks(self, valid: torch.Tensor | None, b: int) -> tuple[torch.Tensor | None, int | None]:
        """The additive mask, ``(L, L)`` or ``(N, 1, L, L)``, and the window of the blockwise form or None."""
        w, t = self.window, self.length
        if self.blocked:
            if valid is None:
                return None, w
            keys = valid.reshape(b * (t // w), 1, w)
            allowed = keys | torch.eye(w, dtype=torch.bool, device=valid.device)[None]
        else:
            if valid is None:
                return self.attn_mask, None
            eye = torch.eye(t, dtype=torch.bool, device=valid.device)[None]
            allowed = (self.attn_mask[None] == 0) & (valid[:, None, :] | eye)
        add = torch.zeros(allowed.shape, device=valid.device).masked_fill_(~allowed, float("-inf"))
        return add[:, None], (w if self.blocked else None)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        mask, window = self._masks(valid, x.shape[0])
        for block in self.resblocks:
            x = block(x, mask, window)
        return x


class GraphConvolution(nn.Module):
    """``out = A @ (X W) + residual(X)``, no bias, xavier-uniform ``W`` (official layers.GraphConvolution).

    The residual is the identity when the widths match, a ``Conv1d(k=5, pad=2)`` otherwise, or none.
    """

    def __init__(self, in_features: int, out_features: int, residual: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        nn.init.xavier_uniform_(self.weight)
        self.has_residual = residual
        if residual and in_features != out_features:
            self.residual = nn.Conv1d(in_features, out_features, kernel_size=5, padding=2)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        out = torch.matmul(adj, x.matmul(self.weight))
        if not self.has_residual:
            return out
        if self.in_features != self.out_features:
            return out + self.residual(x.transpose(1, 2)).transpose(1, 2)
        return out + x


class DistanceAdj(nn.Module):
    """The temporal-distance graph ``(T, T)``.

    ``code``: ``exp(-|i-j| / e)``, no softmax (official ``DistanceAdj``; its ``sigma`` parameter is declared
    but unused, kept for checkpoint compatibility). ``paper``: row softmax of ``-|i-j| / sigma``, sigma = 1.
    Computed once as a buffer (the official code rebuilds it on CUDA at every call).
    """

    def __init__(self, length: int, variant: str = "code") -> None:
        super().__init__()
        if variant not in ("code", "paper"):
            raise ConfigError(f"unknown distance_adjacency {variant!r}; expected code or paper")
        self.variant = variant
        self.sigma = nn.Parameter(torch.full((1,), 0.1))
        idx = torch.arange(length, dtype=torch.float32)
        dist = (idx[:, None] - idx[None, :]).abs()
        if variant == "code":
            adj = torch.exp(-dist / torch.exp(torch.tensor(1.0)))
        else:
            adj = torch.softmax(-dist / 1.0, dim=-1)
        self.register_buffer("adj", adj, persistent=False)

    def forward(self, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``(T, T)`` (broadcast over the batch) or, with ``valid`` (mask_padding), ``(B, T, T)``."""
        if valid is None:
            return self.adj
        pair = valid[:, :, None] & valid[:, None, :]
        if self.variant == "code":
            return self.adj[None] * pair
        t = self.adj.shape[0]
        idx = torch.arange(t, dtype=torch.float32, device=valid.device)
        logits = -(idx[:, None] - idx[None, :]).abs()
        return _masked_row_softmax(logits[None].expand(valid.shape[0], t, t), pair, valid)


def _masked_row_softmax(logits: torch.Tensor, pair: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Row softmax over the valid block only; rows / columns outside it are 0 (no NaN, also in backward)."""
    fill = torch.where(valid[:, :, None], float("-inf"), 0.0)  # invalid rows: finite dummy softmax
    logits = torch.where(pair, logits, fill.expand_as(logits))
    return torch.softmax(logits, dim=-1) * pair


def similarity_adjacency(x: torch.Tensor, lengths: torch.Tensor, threshold: float = 0.7) -> torch.Tensor:
    """The feature-similarity graph ``(B, T, T)`` of the official ``adj4``, batched.

    Cosine ``x_i.x_j / (|x_i||x_j| + 1e-20)``; on each video's ``[:len, :len]`` block, entries <= threshold
    become 0 (``F.threshold``) and each row is softmaxed (zeros still weigh ``exp(0)``); 0 outside the block.
    """
    gram = x.matmul(x.transpose(1, 2))
    norm = torch.linalg.vector_norm(x, dim=2, keepdim=True)
    cos = gram / (norm.matmul(norm.transpose(1, 2)) + 1e-20)
    cos = F.threshold(cos, threshold, 0.0)
    valid = valid_mask(lengths, x.shape[1])
    pair = valid[:, :, None] & valid[:, None, :]
    return _masked_row_softmax(cos, pair, valid)


class LGTAdapter(nn.Module):
    """Local-Global Temporal Adapter: position embedding, local transformer, similarity + distance GCNs.

    ``gcn="code"``: two 2-layer paths (W 512->256->256, Conv1d residual then identity, QuickGELU) and a
    ``Linear(512, 512)`` over their concatenation. ``gcn="paper"``: one layer with a shared W (D -> D/2),
    ``gelu([H_sim X W ; H_dis X W])`` [reconstruction of the paper formula; no residual, no final linear].
    """

    def __init__(
        self,
        width: int = 512,
        length: int = 256,
        layers: int = 2,
        heads: int = 1,
        window: int = 8,
        window_mode: str = "non_overlapping",
        distance_adjacency: str = "code",
        gcn: str = "code",
        sim_threshold: float = 0.7,
        mask_padding: bool = False,
        blocked_attention: bool = True,
    ) -> None:
        super().__init__()
        if width % 2:
            raise ConfigError(f"VadCLIP embed_dim must be even (the GCN paths are D/2 wide), got {width}")
        if gcn not in ("code", "paper"):
            raise ConfigError(f"unknown gcn {gcn!r}; expected code or paper")
        self.length, self.gcn, self.mask_padding, self.sim_threshold = (
            length,
            gcn,
            mask_padding,
            sim_threshold,
        )
        half = width // 2
        self.temporal = LocalTransformer(width, layers, heads, length, window, window_mode, blocked_attention)
        if gcn == "code":
            self.gc1 = GraphConvolution(width, half, residual=True)
            self.gc2 = GraphConvolution(half, half, residual=True)
            self.gc3 = GraphConvolution(width, half, residual=True)
            self.gc4 = GraphConvolution(half, half, residual=True)
            self.disAdj = DistanceAdj(length, distance_adjacency)
            self.linear = nn.Linear(width, width)
        else:
            self.gc = GraphConvolution(width, half, residual=False)
            self.disAdj = DistanceAdj(length, distance_adjacency)
        self.gelu = QuickGELU()
        self.frame_position_embeddings = nn.Embedding(length, width)
        nn.init.normal_(self.frame_position_embeddings.weight, std=0.01)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` features + ``(B,)`` valid lengths -> contextual features ``X`` ``(B, T, D)``."""
        valid = valid_mask(lengths, self.length) if self.mask_padding else None
        x = x.to(torch.float) + self.frame_position_embeddings.weight[None]
        x = self.temporal(x, valid)
        adj = similarity_adjacency(x, lengths, self.sim_threshold)
        dis = self.disAdj(valid)
        if self.gcn == "paper":
            return F.gelu(torch.cat([self.gc(x, adj), self.gc(x, dis)], dim=2))
        x1 = self.gelu(self.gc2(self.gelu(self.gc1(x, adj)), adj))
        x2 = self.gelu(self.gc4(self.gelu(self.gc3(x, dis)), dis))
        return self.linear(torch.cat([x1, x2], dim=2))


# -- the frozen CLIP text tower and the learnable prompt ----------------------------------------------------


class FrozenTextEncoder(nn.Module):
    """The CLIP text tower of an open_clip ``CLIP`` model, frozen (eval, no grad on its weights).

    ``forward(prompts, eot)`` is the official modified ``encode_text``: ``prompts`` (C, L, W) token vectors +
    positional embedding -> causal transformer -> ``ln_final`` -> row at the EOT position -> projection.
    Gradients still flow to ``prompts`` (the learnable context).
    """

    def __init__(self, clip_model: nn.Module) -> None:
        super().__init__()
        for name in ("token_embedding", "positional_embedding", "transformer", "ln_final"):
            if not hasattr(clip_model, name):
                raise ConfigError(
                    f"the CLIP model {type(clip_model).__name__} has no text attribute {name!r}; "
                    f"VadCLIP needs an open_clip CLIP with a built-in text tower"
                )
        self.token_embedding = clip_model.token_embedding
        self.positional_embedding = clip_model.positional_embedding
        self.transformer = clip_model.transformer
        self.ln_final = clip_model.ln_final
        self.text_projection = getattr(clip_model, "text_projection", None)
        mask = getattr(clip_model, "attn_mask", None)
        self.register_buffer("attn_mask", mask.clone() if mask is not None else None, persistent=False)
        self.requires_grad_(False)
        self.eval()

    @property
    def width(self) -> int:
        return int(self.token_embedding.weight.shape[1])

    @property
    def context_length(self) -> int:
        return int(self.positional_embedding.shape[0])

    @property
    def output_dim(self) -> int:
        p = self.text_projection
        if p is None:
            return self.width
        return int(p.out_features if isinstance(p, nn.Linear) else p.shape[1])

    def train(self, mode: bool = True) -> FrozenTextEncoder:  # always frozen
        return super().train(False)

    def forward(self, prompts: torch.Tensor, eot: torch.Tensor, truncate: bool = True) -> torch.Tensor:
        n = int(eot.max()) + 1 if truncate else prompts.shape[1]
        x = prompts[:, :n] + self.positional_embedding[:n].to(prompts.dtype)
        mask = self.attn_mask[:n, :n] if self.attn_mask is not None else None
        if getattr(self.transformer, "batch_first", True):
            x = self.transformer(x, attn_mask=mask)
        else:
            x = self.transformer(x.transpose(0, 1), attn_mask=mask).transpose(0, 1)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        p = self.text_projection
        if p is None:
            return x
        return p(x) if isinstance(p, nn.Linear) else x @ p


class PromptLearner(nn.Module):
    """The learnable text prompt (official ``encode_textprompt``), vectorised over classes.

    One table of ``context_length`` learnable token vectors (N(0, 0.01^2)) shared by all classes; for a class
    whose EOT is at ``ind``: position 0 = SOT, 1..prefix learnable, prefix+1..prefix+ind-1 the class-word
    tokens, then ``postfix`` learnable, then EOT at ``prefix+ind+postfix``; later positions learnable (hidden
    by the causal mask).
    """

    def __init__(
        self, tokens: torch.Tensor, width: int, prefix: int = 10, postfix: int = 10, names: Sequence[str] = ()
    ) -> None:
        super().__init__()
        c, length = tokens.shape
        ind = tokens.argmax(dim=-1)  # EOT has the largest id in CLIP's BPE vocabulary
        eot = prefix + ind + postfix
        if int(eot.max()) >= length:
            worst = int(eot.argmax())
            raise ConfigError(
                f"class name {names[worst] if names else worst!r} is too long for the prompt: "
                f"{int(ind[worst])} tokens + {prefix}+{postfix} context exceed {length}"
            )
        pos = torch.arange(length)[None, :].expand(c, length)
        src = torch.full((c, length), -1, dtype=torch.long)
        src[:, 0] = 0
        is_word = (pos >= prefix + 1) & (pos < prefix + ind[:, None])
        src = torch.where(is_word, pos - prefix, src)
        src = torch.where(pos == eot[:, None], ind[:, None].expand(c, length), src)
        self.text_prompt_embeddings = nn.Embedding(length, width)
        nn.init.normal_(self.text_prompt_embeddings.weight, std=0.01)
        self.register_buffer("tokens", tokens.clone(), persistent=False)
        self.register_buffer("source", src, persistent=False)
        self.register_buffer("eot", eot, persistent=False)

    def prompts(self, token_embedding: nn.Embedding) -> torch.Tensor:
        """``(C, L, W)`` token vectors (class words from the frozen token_embedding, context learnable)."""
        with torch.no_grad():  # read from the (possibly reloaded) frozen table at every call
            word = token_embedding(self.tokens).to(self.text_prompt_embeddings.weight.dtype)
        table = self.text_prompt_embeddings.weight[None].expand(self.source.shape[0], -1, -1)
        words = torch.gather(word, 1, self.source.clamp(min=0)[:, :, None].expand(-1, -1, table.shape[-1]))
        return torch.where((self.source >= 0)[:, :, None], words, table)

    def forward(self, encoder: FrozenTextEncoder, truncate: bool = True) -> torch.Tensor:
        """``T_ori`` ``(C, D)``: the prompted class embeddings."""
        return encoder(self.prompts(encoder.token_embedding), self.eot, truncate=truncate)


# -- the whole model ----------------------------------------------------------------------------------------


class VadCLIPModel(nn.Module):
    """VadCLIP: LGT-Adapter, C-branch, A-branch (learnable prompt + anomaly-focus visual prompt).

    ``forward(visual (B,T,D), lengths (B,), text_features=None) -> (T_ori (C,D), logits1 (B,T,1),
    logits2 (B,T,C))``; pass ``text_features`` (a detached ``T_ori``) to skip the text tower at test time.
    """

    def __init__(
        self,
        clip_model: nn.Module,
        tokens: torch.Tensor,
        *,
        embed_dim: int = 512,
        length: int = 256,
        layers: int = 2,
        heads: int = 1,
        window: int = 8,
        prompt_prefix: int = 10,
        prompt_postfix: int = 10,
        window_mode: str = "non_overlapping",
        distance_adjacency: str = "code",
        gcn: str = "code",
        visual_prompt_source: str = "logits",
        mask_padding: bool = False,
        sim_threshold: float = 0.7,
        tau: float = 0.07,
        class_names: Sequence[str] = (),
        blocked_attention: bool = True,
        truncate_text: bool = True,
    ) -> None:
        super().__init__()
        if visual_prompt_source not in ("logits", "sigmoid"):
            raise ConfigError(
                f"unknown visual_prompt_source {visual_prompt_source!r}; expected logits or sigmoid"
            )
        self.embed_dim, self.length, self.tau = embed_dim, length, tau
        self.visual_prompt_source, self.mask_padding, self.truncate_text = (
            visual_prompt_source,
            mask_padding,
            truncate_text,
        )
        self.adapter = LGTAdapter(
            embed_dim,
            length,
            layers,
            heads,
            window,
            window_mode,
            distance_adjacency,
            gcn,
            sim_threshold,
            mask_padding,
            blocked_attention,
        )
        self.mlp1 = _mlp(embed_dim)
        self.mlp2 = _mlp(embed_dim)
        self.classifier = nn.Linear(embed_dim, 1)
        self.clipmodel = FrozenTextEncoder(clip_model)
        if self.clipmodel.output_dim != embed_dim:
            raise ConfigError(
                f"CLIP text projection outputs {self.clipmodel.output_dim}-d vectors but VadCLIP "
                f"embed_dim is {embed_dim}; they must be equal (use the CLIP of the features)"
            )
        if tokens.shape[1] != self.clipmodel.context_length:
            raise ConfigError(
                f"tokens have length {tokens.shape[1]} but the CLIP context is "
                f"{self.clipmodel.context_length}"
            )
        self.prompt = PromptLearner(
            tokens.to(self.clipmodel.token_embedding.weight.device),
            self.clipmodel.width,
            prompt_prefix,
            prompt_postfix,
            class_names,
        )

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def encode_text(self) -> torch.Tensor:
        """``T_ori`` ``(C, D)`` (depends on the prompt table only, not on the video)."""
        return self.prompt(self.clipmodel, truncate=self.truncate_text)

    def forward(
        self, visual: torch.Tensor, lengths: torch.Tensor, text_features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if visual.shape[1] != self.length or visual.shape[2] != self.embed_dim:
            raise ConfigError(
                f"VadCLIP expects (B, {self.length}, {self.embed_dim}) inputs, got {tuple(visual.shape)}"
            )
        x = self.adapter(visual, lengths)
        logits1 = self.classifier(x + self.mlp2(x))
        t_ori = self.encode_text() if text_features is None else text_features
        attn = logits1 if self.visual_prompt_source == "logits" else torch.sigmoid(logits1)
        if self.mask_padding:
            attn = attn * valid_mask(lengths, self.length)[:, :, None]
        v = attn.transpose(1, 2).matmul(x)  # (B, 1, D)
        v = v / v.norm(dim=-1, keepdim=True)
        t = t_ori[None] + v  # (B, C, D)
        t = t + self.mlp1(t)
        xn = x / x.norm(dim=-1, keepdim=True)
        tn = t / t.norm(dim=-1, keepdim=True)
        logits2 = xn.matmul(tn.transpose(1, 2)) / self.tau
        return t_ori, logits1, logits2


#: official ``CLIPVAD`` state-dict prefixes -> this model's.
_OFFICIAL_PREFIX = {
    "temporal.": "adapter.temporal.",
    "gc1.": "adapter.gc1.",
    "gc2.": "adapter.gc2.",
    "gc3.": "adapter.gc3.",
    "gc4.": "adapter.gc4.",
    "disAdj.": "adapter.disAdj.",
    "linear.": "adapter.linear.",
    "frame_position_embeddings.": "adapter.frame_position_embeddings.",
    "text_prompt_embeddings.": "prompt.text_prompt_embeddings.",
}


def official_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official checkpoint (``model_ucf.pth`` / ``model_xd.pth``) to this model's keys.

    The frozen ``clipmodel.*`` weights are dropped (the text tower is loaded by name).

    >>> sorted(official_state_dict({"gc1.weight": 0, "clipmodel.x": 1, "mlp1.c_fc.bias": 2}))
    ['adapter.gc1.weight', 'mlp1.c_fc.bias']
    """
    out = {}
    for key, value in state.items():
        if key.startswith("clipmodel."):
            continue
        for old, new in _OFFICIAL_PREFIX.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[key] = value
    return out


def count_trainable(model: nn.Module) -> int:
    """Number of trainable parameters (spec: about 12.64 M for UCF, 9.49 M for XD, incl. the unused sigma)."""
    return sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad)
