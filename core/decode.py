"""Fast decode steps for Llama-family models: fused weights over a preallocated (static) key/value cache.

A transformers forward pass for one new token runs about 1,500 small tensor operations through Python
(masks, cache bookkeeping, a module call per projection), which on the CPU costs as much as reading the
weights. `StaticDecoder.step` runs the same arithmetic in about 15 operations per layer: q/k/v and
gate/up are each one matrix product (their weights concatenated once), rotary tables are precomputed,
and keys/values are written into buffers that only grow by doubling. The prompt itself still runs through
transformers (`CausalLM._forward`); `adopt` copies its cache into the buffers.

`weights`: "float32" keeps the model's own weights (the answers are those of the transformers path: the
same products, summed in another order only to float precision; tests compare the greedy tokens); "int8"
stores each projection and the output head as int8 with one scale per output row (fbgemm dynamic
quantisation: activations quantised per call), a quarter of the bytes read per token, and answers that may
differ (tests/test_decode.py pins where).
`row_backend`: how a single row's float32 products run (core.products: numpy's OpenBLAS, by default, or torch's
MKL; several rows always go through torch).

LoRA rows: a `StaticKV` may carry a LoRA adapter kept apart from the weights (`LoraDeltas`) and which of its rows
use it; `step` adds those rows' delta, y = x W^T + (x A^T) (B scale)^T on each adapted projection (peft's unmerged
LoRA layer, to float precision), and leaves the other rows' arithmetic exactly as without an adapter. So
the base model's rows and the counterfactual model's rows of one batch share one pass over the weights, and the
counterfactual model needs no merged copy of them. `stack` joins the rows of several caches (left padding).
`step_joining` is a step that also runs the prompts of rows joining the batch (continuous batching): their tokens
go through the same products as the live rows' new tokens, each prompt with causal attention over its own tokens.

Invariant: `step` never changes the model's weights; a `StaticKV` holds rows aligned with the caller's
mask, and `batch_select_indices` keeps them (and which of them use the adapter) aligned when rows leave the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.products import ROW_BACKENDS, WEIGHTS, Linear, fused, torch_threads


class LoraDeltas:
    """A LoRA adapter apart from the weights it adapts: for each adapted layer i and fused group ("qkv", "o",
    "gate_up", "down"), one pair (A (r_total, in), B (out, r_total)): A stacks the A matrices of the group's adapted
    projections; B holds each one's B * scale in the rows of its slice of the group's fused output and the columns
    of its A, zeros elsewhere. So a group's delta, B (A x), is two products however many projections it adapts
    (the shipped adapter's 8 layers at 8 rows on two threads here: 2.8 ms a step, against 5.5 ms a projection at a
    time)."""

    GROUPS = {"self_attn": (("qkv", ("q_proj", "k_proj", "v_proj")), ("o", ("o_proj",)))}
    GROUPS |= {"mlp": (("gate_up", ("gate_proj", "up_proj")), ("down", ("down_proj",)))}

    def __init__(self, groups: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]]):
        self.groups = groups

    @classmethod
    def from_model(cls, model) -> LoraDeltas | None:
        """The plain LoRA layers peft injected into a Llama-style model (unmerged, one adapter), or None when some
        adapted projection is not plain LoRA (DoRA, a LoRA bias, several adapters): such a model is merged instead."""
        groups: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}
        for i, layer in enumerate(model.model.layers):
            for part, named in cls.GROUPS.items():
                for group, names in named:
                    entries, start = [], 0
                    for module in (getattr(getattr(layer, part), name) for name in names):
                        plain = getattr(module, "base_layer", module)
                        if hasattr(module, "lora_A"):
                            if not _plain_lora(module):
                                return None
                            key = next(iter(module.lora_A))
                            a, b = module.lora_A[key].weight.detach(), module.lora_B[key].weight.detach()
                            entries.append((start, a, b * float(module.scaling[key])))
                        start += plain.out_features
                    if entries:
                        groups[(i, group)] = _stacked(entries, start)
        return cls(groups)

    def add(self, i: int, group: str, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None) -> None:
        """y += the adapter's delta of layer i's `group` for input x, on `rows` only (None: every row)."""
        pair = self.groups.get((i, group))
        if pair is None:
            return
        a, b = pair
        if rows is None:
            y += F.linear(F.linear(x, a), b)
        else:
            y.index_add_(0, rows, F.linear(F.linear(x[rows], a), b))


def _stacked(entries: list[tuple[int, torch.Tensor, torch.Tensor]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) of a group from its projections' (output start, A (r, in), B * scale (out, r)); `width`: the group's
    fused output width."""
    a = torch.cat([e[1] for e in entries])
    b = torch.zeros(width, a.shape[0], dtype=a.dtype, device=a.device)
    column = 0
    for start, a_k, b_k in entries:
        b[start : start + b_k.shape[0], column : column + a_k.shape[0]] = b_k
        column += a_k.shape[0]
    return a, b


def _plain_lora(module) -> bool:
    """One plain LoRA adapter on a Linear: no DoRA or other variant, no LoRA bias, identity dropout in eval."""
    names = list(module.lora_A)
    return (
        len(names) == 1
        and not getattr(module, "lora_variant", {})
        and not getattr(module, "use_dora", {}).get(names[0], False)
        and module.lora_B[names[0]].bias is None
        and module.lora_A[names[0]].bias is None
        and not getattr(module, "merged", False)
    )


class StaticKV:
    """Keys and values of every layer, (layers, batch, kv_heads, capacity, head_dim), filled up to `length`;
    `lora` and `adapted` (bool (batch,)): the adapter some rows use, and which rows."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int, decoder: StaticDecoder):
        self.keys, self.values, self.length = keys, values, length
        self.decoder = decoder  # the decoder that filled it steps it to the end, whatever path is chosen meanwhile
        self.lora: LoraDeltas | None = None
        self.adapted: torch.Tensor | None = None

    def batch_select_indices(self, index: torch.Tensor) -> None:
        """Keep only these rows (finished rows leave the batch), as DynamicCache does."""
        self.keys, self.values = self.keys[:, index], self.values[:, index]
        if self.adapted is not None:
            self.adapted = self.adapted[index]

    def lora_rows(self) -> tuple[LoraDeltas | None, torch.Tensor | None]:
        """(the adapter, the rows that use it: None = all) for this step; (None, None) when no row uses one."""
        if self.lora is None or self.adapted is None or not bool(self.adapted.any()):
            return None, None
        return self.lora, None if bool(self.adapted.all()) else self.adapted.nonzero().squeeze(1)

    def reserve(self) -> None:
        """Room for one more column: the capacity doubles when full (rarely: amortised)."""
        if self.length < self.keys.shape[3]:
            return
        grow = torch.zeros_like(self.keys)
        self.keys, self.values = torch.cat([self.keys, grow], 3), torch.cat([self.values, grow.clone()], 3)


class _Layer:
    def __init__(self, layer, kind: str, rows: str):
        attn, mlp = layer.self_attn, layer.mlp
        self.qkv = fused([attn.q_proj, attn.k_proj, attn.v_proj], kind, rows)
        self.o = Linear(attn.o_proj.weight, kind, rows)
        self.gate_up = fused([mlp.gate_proj, mlp.up_proj], kind, rows)
        self.down = Linear(mlp.down_proj.weight, kind, rows)
        self.norm_in, self.norm_post = layer.input_layernorm.weight, layer.post_attention_layernorm.weight
        self.split = (attn.q_proj.weight.shape[0], attn.k_proj.weight.shape[0], attn.v_proj.weight.shape[0])
        self.intermediate = mlp.gate_proj.weight.shape[0]


def supports(model) -> bool:
    """Whether `StaticDecoder` can run this model: a float32 Llama-style decoder with plain RoPE and SiLU MLPs
    whose projections are plain Linear layers (an unmerged adapter would be skipped, so it is refused)."""
    config = model.config
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_type", "default")
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None or next(model.parameters()).dtype != torch.float32:
        return False
    names = ("q_proj", "k_proj", "v_proj", "o_proj")
    plain = all(type(getattr(layer.self_attn, n, None)) is torch.nn.Linear for layer in layers for n in names) and all(
        type(getattr(layer.mlp, n, None)) is torch.nn.Linear
        for layer in layers
        for n in ("gate_proj", "up_proj", "down_proj")
    )
    return (
        plain
        and getattr(config, "model_type", None) in ("llama", "mistral")
        and rope == "default"
        and getattr(config, "hidden_act", None) == "silu"
        and not getattr(config, "attention_bias", False)
        and not getattr(config, "mlp_bias", False)
        and not getattr(config, "sliding_window", None)
    )


class StaticDecoder:
    """One decode step for a batch of rows, each at its own position, over a StaticKV."""

    def __init__(self, model, weights: str = "float32", row_backend: str = "openblas"):
        if weights not in WEIGHTS:
            raise ValueError(f"decoder weights must be one of {WEIGHTS}, got {weights!r}")
        if row_backend not in ROW_BACKENDS:
            raise ValueError(f"decoder row backend must be one of {ROW_BACKENDS}, got {row_backend!r}")
        config, inner = model.config, model.model
        self.weights = weights
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.eps = config.rms_norm_eps
        self.layers = [_Layer(layer, weights, row_backend) for layer in inner.layers]
        self.embed, self.norm = inner.embed_tokens.weight, inner.norm.weight
        self.head = Linear(model.get_output_embeddings().weight, weights, row_backend)
        # a single row's step runs torch's own operations on one thread beside OpenBLAS's (core.products)
        self._row_threads = 1 if self.head.row_backend == "openblas" else None
        self.rotary = inner.rotary_emb
        self._tables(config.max_position_embeddings)
        self.steps = 0  # batched steps run (tests and benchmarks read it: one per token, whatever the batch)

    def _tables(self, length: int) -> None:
        """cos/sin of positions 0..length-1 (length, head_dim), as transformers' rotary embedding computes them;
        `step` grows them when a row passes the end (a prompt longer than max_position_embeddings)."""
        positions = torch.arange(length, device=self.embed.device)[None]
        dummy = torch.zeros(1, dtype=self.embed.dtype, device=self.embed.device)
        cos, sin = self.rotary(dummy, positions)
        self.cos, self.sin = cos[0], sin[0]

    def weight_bytes_per_token(self) -> int:
        """Bytes of weights one decode step reads: every projection, the norms, the output head, one embedding row."""
        linears = [part for layer in self.layers for part in (layer.qkv, layer.o, layer.gate_up, layer.down)]
        norms = sum(2 * layer.norm_in.numel() * layer.norm_in.element_size() for layer in self.layers)
        norms += self.norm.numel() * self.norm.element_size()
        row = self.embed.shape[1] * self.embed.element_size()
        return sum(p.bytes() for p in linears) + self.head.bytes() + norms + row

    def adopt(self, cache, rows: int, lora: LoraDeltas | None = None) -> StaticKV:
        """A StaticKV holding a transformers DynamicCache's keys and values (rotary already applied); with `lora`,
        every row steps with that adapter."""
        layers = cache.layers
        length = layers[0].keys.shape[2]
        capacity = max(64, 2 * length)
        shape = (len(layers), rows, self.kv_heads, capacity, self.head_dim)
        keys = torch.zeros(shape, dtype=layers[0].keys.dtype, device=layers[0].keys.device)
        values = torch.zeros_like(keys)
        for i, layer in enumerate(layers):
            keys[i, :, :, :length] = layer.keys
            values[i, :, :, :length] = layer.values
        kv = StaticKV(keys, values, length, self)
        if lora is not None:
            kv.lora, kv.adapted = lora, torch.ones(rows, dtype=torch.bool, device=keys.device)
        return kv

    def step(self, tokens: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor, kv: StaticKV) -> torch.Tensor:
        """Logits (B, vocab) after each row's next token; tokens and positions (B,), mask (B, kv.length + 1)
        with 1 where a column is a real token (0: padding). The new keys and values go into column kv.length."""
        kv.reserve()
        lora, rows = kv.lora_rows()
        attend = _column_mask(mask)

        def attention(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return self._attend_live(i, q, k, v, attend, kv)

        with self._threads(tokens.shape[0]):
            h = self._layers(tokens, positions, lora, rows, attention)
            logits = self.head(_rms(h, self.norm, self.eps))
        kv.length, self.steps = kv.length + 1, self.steps + 1
        return logits

    def step_joining(
        self,
        live: tuple[torch.Tensor, torch.Tensor, torch.Tensor, StaticKV] | None,
        prompts: list[list[int]],
        lora: LoraDeltas | None,
        adapted: list[bool],
    ) -> tuple[torch.Tensor | None, torch.Tensor, tuple[torch.Tensor, torch.Tensor, StaticKV]]:
        """One step of the live rows (tokens, positions, mask, kv as for `step`; None: no live rows) that also runs
        the prompts of rows joining the batch, in the same products over the weights: a joining row's prompt costs
        its share of one pass instead of a pass of its own. `adapted[p]`: prompt p steps with `lora`.

        Returns (the live rows' logits (B, vocab) or None, each prompt's last logits (P, vocab), the prompts' state
        (mask (P, width), positions (P, 1), StaticKV), left-padded to the longest prompt), for `stack`. A prompt's
        arithmetic is the transformers prompt pass's (causal attention over its own tokens, positions from 0), to
        float precision."""
        b = 0 if live is None else live[0].shape[0]
        lengths = [len(p) for p in prompts]
        width, device = max(lengths), self.embed.device
        new = self._prompt_kv(len(prompts), width)
        tokens = torch.tensor([t for p in prompts for t in p], device=device)
        positions = torch.cat([torch.arange(n, device=device) for n in lengths])
        use = torch.tensor([a for a, n in zip(adapted, lengths) for _ in range(n)], dtype=torch.bool, device=device)
        if live is not None:
            live[3].reserve()
            lora = live[3].lora or lora
            before = live[3].adapted if live[3].adapted is not None else torch.zeros(b, dtype=torch.bool, device=device)
            tokens, positions, use = (
                torch.cat([live[0], tokens]),
                torch.cat([live[1], positions]),
                torch.cat([before, use]),
            )
        rows = None if bool(use.all()) else use.nonzero().squeeze(1)
        if lora is None or not bool(use.any()):
            lora, rows = None, None

        columns = _column_mask(live[2]) if live is not None else None

        def attend(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            out = [self._attend_live(i, q[:b], k[:b], v[:b], columns, live[3])] if live is not None else []
            return torch.cat(out + self._attend_prompts(i, q[b:], k[b:], v[b:], lengths, new))

        ends = torch.tensor(lengths, device=device).cumsum(0) - 1 + b
        with self._threads(tokens.shape[0]):  # one row only for a lone one-token prompt
            h = self._layers(tokens, positions, lora, rows, attend)
            logits = self.head(_rms(torch.cat([h[:b], h[ends]]), self.norm, self.eps))
        if live is not None:
            live[3].length += 1
        self.steps += 1
        mask = torch.zeros(len(prompts), width, dtype=torch.long, device=device)
        for p, n in enumerate(lengths):
            mask[p, width - n :] = 1
        new.lora = lora if any(adapted) else None
        new.adapted = torch.tensor(adapted, dtype=torch.bool, device=device) if new.lora is not None else None
        last = torch.tensor(lengths, device=device)[:, None] - 1
        return (logits[:b] if live is not None else None), logits[b:], (mask, last, new)

    def _threads(self, n: int):
        """torch's threads for a pass of n new tokens: one beside OpenBLAS when a single row's products go there."""
        return torch_threads(self._row_threads if n == 1 else None)

    def _layers(self, tokens: torch.Tensor, positions: torch.Tensor, lora, rows, attend) -> torch.Tensor:
        """The hidden states (N, hidden) of N new tokens at their positions through every layer; `attend(layer, q,
        k, v)` (q (N, heads, head_dim), k and v (N, kv_heads, head_dim), rotary applied) gives the attention output
        (N, heads * head_dim) and stores the keys and values where they belong."""
        n = tokens.shape[0]
        if int(positions.max()) >= len(self.cos):  # past the configured context: RoPE extends as transformers' does
            self._tables(max(2 * len(self.cos), int(positions.max()) + 1))
        cos, sin = self.cos[positions][:, None], self.sin[positions][:, None]  # (N, 1, head_dim)
        h = F.embedding(tokens, self.embed)  # (N, hidden)
        for i, layer in enumerate(self.layers):
            q, k, v = _adapted(layer.qkv, _rms(h, layer.norm_in, self.eps), lora, i, "qkv", rows).split(layer.split, -1)
            q = _rotate(q.view(n, self.heads, self.head_dim), cos, sin)
            k = _rotate(k.view(n, self.kv_heads, self.head_dim), cos, sin)
            h = h + _adapted(layer.o, attend(i, q, k, v.view(n, self.kv_heads, self.head_dim)), lora, i, "o", rows)
            gate_up = _adapted(layer.gate_up, _rms(h, layer.norm_post, self.eps), lora, i, "gate_up", rows)
            gate, up = gate_up.split(layer.intermediate, dim=-1)
            h = h + _adapted(layer.down, F.silu(gate) * up, lora, i, "down", rows)
        return h

    def _attend_live(self, i: int, q, k, v, attend: torch.Tensor | None, kv: StaticKV) -> torch.Tensor:
        """Live rows' attention: their new key and value go into column kv.length; each row attends to the columns
        `attend` (`_column_mask`) marks."""
        t, b = kv.length, q.shape[0]
        kv.keys[i, :, :, t], kv.values[i, :, :, t] = k, v
        group = q.view(b, self.kv_heads, self.heads // self.kv_heads, self.head_dim)  # heads sharing a kv head
        out = F.scaled_dot_product_attention(
            group, kv.keys[i, :, :, : t + 1], kv.values[i, :, :, : t + 1], attn_mask=attend
        )
        return out.reshape(b, -1)

    def _attend_prompts(self, i: int, q, k, v, lengths: list[int], kv: StaticKV) -> list[torch.Tensor]:
        """Each prompt's causal attention over its own tokens; its keys and values go right-aligned into its row."""
        outs, at, width, repeat = [], 0, kv.length, self.heads // self.kv_heads
        for p, n in enumerate(lengths):
            keys, values = k[at : at + n].transpose(0, 1), v[at : at + n].transpose(0, 1)  # (kv_heads, n, head_dim)
            kv.keys[i, p, :, width - n : width], kv.values[i, p, :, width - n : width] = keys, values
            out = F.scaled_dot_product_attention(  # as transformers' prompt pass: kv heads repeated, causal
                q[at : at + n].transpose(0, 1),
                keys.repeat_interleave(repeat, 0),
                values.repeat_interleave(repeat, 0),
                is_causal=True,
            )
            outs.append(out.transpose(0, 1).reshape(n, -1))
            at += n
        return outs

    def _prompt_kv(self, rows: int, width: int) -> StaticKV:
        """An empty StaticKV of `rows` rows and `width` columns (filled by `_attend_prompts`)."""
        shape = (len(self.layers), rows, self.kv_heads, width, self.head_dim)
        keys = torch.zeros(shape, dtype=self.embed.dtype, device=self.embed.device)
        return StaticKV(keys, torch.zeros_like(keys), width, self)


def _adapted(linear: Linear, x: torch.Tensor, lora: LoraDeltas | None, i: int, group: str, rows) -> torch.Tensor:
    """linear(x), plus the adapter's delta on its rows when the batch has any."""
    y = linear(x)
    if lora is not None:
        lora.add(i, group, x, y, rows)
    return y


def stack(parts: list[tuple[torch.Tensor, torch.Tensor, StaticKV]]) -> tuple[torch.Tensor, torch.Tensor, StaticKV]:
    """One batch from several: (mask (B_p, length_p), positions (B_p, 1), kv) parts of one decoder (and at most one
    adapter) as (mask, positions, kv) with every part's columns right-aligned at the longest length; the new
    columns on the left are padding (mask 0), so each row attends to what it attended to before."""
    length = max(kv.length for _, _, kv in parts)
    first = parts[0][2]
    rows = sum(kv.keys.shape[1] for _, _, kv in parts)
    shape = (first.keys.shape[0], rows, first.keys.shape[2], max(64, 2 * length), first.keys.shape[4])
    keys = torch.zeros(shape, dtype=first.keys.dtype, device=first.keys.device)
    values, masks, adapted, at = torch.zeros_like(keys), [], [], 0
    for mask, _, kv in parts:
        n, pad = kv.keys.shape[1], length - kv.length
        keys[:, at : at + n, :, pad:length] = kv.keys[:, :, :, : kv.length]
        values[:, at : at + n, :, pad:length] = kv.values[:, :, :, : kv.length]
        masks.append(F.pad(mask, (pad, 0)))
        use = kv.adapted if kv.adapted is not None else torch.zeros(n, dtype=torch.bool, device=mask.device)
        adapted.append(use)
        at += n
    out = StaticKV(keys, values, length, first.decoder)
    loras = {id(kv.lora): kv.lora for _, _, kv in parts if kv.lora is not None}
    if len(loras) > 1:
        raise ValueError("stack joins rows of at most one adapter")
    out.lora, out.adapted = next(iter(loras.values()), None), torch.cat(adapted)
    return torch.cat(masks), torch.cat([p for _, p, _ in parts]), out


def _column_mask(mask: torch.Tensor) -> torch.Tensor | None:
    """The attention mask (B, 1, 1, columns) of a (B, columns) padding mask, or None when no column is padding."""
    return None if bool(mask.all()) else mask.bool()[:, None, None, :]


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """transformers' LlamaRMSNorm, operation for operation (float32 in, so no casts)."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of (B, heads, head_dim) rows, as transformers' apply_rotary_pos_emb."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin
