"""Small real torch.nn models for the load tests.

TinyLM is a two-layer transformer language model in Hugging Face layout
(model.embed_tokens, model.layers.N, model.norm, lm_head) whose lm_head
shares the embedding's weight. Fp8Linear keeps scaling state outside its
parameters and saves it as `_extra_state` the way TransformerEngine modules
do. CompiledModule wraps a model under `_orig_mod`, the attribute that
torch.compile's wrapper uses, so names carry `_orig_mod.`.
"""

import torch
from torch import nn


class Fp8Linear(nn.Linear):
    """A Linear whose FP8 scaling metadata is module state, not parameters.

    As in TransformerEngine, get_extra_state returns an empty uint8 tensor
    until FP8 is used and the serialized metadata as uint8 afterwards (here
    a fixed-size float32 scale and amax history), and set_extra_state
    ignores an empty tensor.
    """

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features)
        self.fp8_meta = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0])  # scale, then amax history
        self.fp8_used = False

    def get_extra_state(self):
        if not self.fp8_used:
            return torch.empty(0, dtype=torch.uint8)
        return self.fp8_meta.clone().view(torch.uint8)

    def set_extra_state(self, state):
        if state is None or state.numel() == 0:
            return
        self.fp8_meta = state.clone().view(torch.float32)
        self.fp8_used = True


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, fp8):
        super().__init__()
        linear = Fp8Linear if fp8 else nn.Linear
        self.input_layernorm = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.post_attention_layernorm = nn.LayerNorm(dim)
        self.up_proj = linear(dim, hidden)
        self.down_proj = linear(hidden, dim)

    def forward(self, hidden):
        normed = self.input_layernorm(hidden)
        attended, _ = self.self_attn(normed, normed, normed, need_weights=False)
        hidden = hidden + attended
        return hidden + self.down_proj(torch.relu(self.up_proj(self.post_attention_layernorm(hidden))))


class Backbone(nn.Module):
    def __init__(self, vocab, dim, heads, hidden, layers, fp8):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Block(dim, heads, hidden, fp8) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.register_buffer("rotary_inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2) / dim)))


class TinyLM(nn.Module):
    """A transformer language model with tied input and output embeddings."""

    def __init__(self, vocab=96, dim=16, heads=2, hidden=40, layers=2, fp8=False, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.model = Backbone(vocab, dim, heads, hidden, layers, fp8)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.model.embed_tokens.weight
        # Non-zero biases and norms, so a load that skips them shows.
        with torch.no_grad():
            for name, parameter in self.named_parameters():
                if name.endswith("bias") or "norm" in name:
                    parameter.uniform_(-1.0, 1.0)

    def forward(self, tokens):
        hidden = self.model.embed_tokens(tokens)
        for layer in self.model.layers:
            hidden = layer(hidden)
        return self.lm_head(self.model.norm(hidden))


class CompiledModule(nn.Module):
    """Holds a model as `_orig_mod`, as torch.compile's OptimizedModule does."""

    def __init__(self, module):
        super().__init__()
        self._orig_mod = module

    def forward(self, *arguments):
        return self._orig_mod(*arguments)


def use_fp8(model, seed):
    """Give every Fp8Linear distinct FP8 metadata, as after FP8 training steps."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, Fp8Linear):
            module.fp8_used = True
            module.fp8_meta = torch.rand(5, generator=generator)


def hf_state_dict(model):
    """Return the state dict a Hugging Face checkpoint stores: no lm_head.weight copy."""
    state = dict(model.state_dict())
    state.pop("lm_head.weight", None)
    return {name: tensor.clone() for name, tensor in state.items()}


def assert_same_state(actual, expected):
    """Assert that two state dicts have the same names and identical values."""
    assert list(actual) == list(expected)
    for name in expected:
        assert actual[name].dtype == expected[name].dtype, name
        assert actual[name].shape == expected[name].shape, name
        assert torch.equal(actual[name], expected[name]), name
