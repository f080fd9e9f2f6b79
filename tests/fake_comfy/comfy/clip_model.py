"""comfy/clip_model.py:1-140: ComfyUI's own CLIP text transformer, with Hugging Face key names.

What matters to the nodes, kept exactly: the blocks add in place (``CLIPLayer.forward`` ``x += ...``,
:49-52); ``CLIPEncoder.forward`` runs every block, turns a negative ``intermediate_output`` into
``len(layers) + i`` and returns ``(x, intermediate)`` with ``intermediate = x.clone()`` after that
block (:59-84); ``CLIPTextModel_.forward`` applies ``final_layer_norm`` to ``x`` and, with
``final_layer_norm_intermediate``, to the intermediate, and pools at the end token (:106-131).
"""

import torch
from torch.nn import functional


class CLIPAttention(torch.nn.Module):
    def __init__(self, embed_dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = torch.nn.Linear(embed_dim, embed_dim)
        self.k_proj = torch.nn.Linear(embed_dim, embed_dim)
        self.v_proj = torch.nn.Linear(embed_dim, embed_dim)
        self.out_proj = torch.nn.Linear(embed_dim, embed_dim)

    def forward(self, x, mask=None):
        b, n, width = x.shape
        q, k, v = (
            p(x).view(b, n, self.heads, width // self.heads).transpose(1, 2)
            for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        out = functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # optimized_attention
        return self.out_proj(out.transpose(1, 2).reshape(b, n, width))


class CLIPMLP(torch.nn.Module):
    def __init__(self, embed_dim, intermediate_size):
        super().__init__()
        self.fc1 = torch.nn.Linear(embed_dim, intermediate_size)
        self.fc2 = torch.nn.Linear(intermediate_size, embed_dim)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))  # quick_gelu


class CLIPLayer(torch.nn.Module):
    def __init__(self, embed_dim, heads, intermediate_size):
        super().__init__()
        self.layer_norm1 = torch.nn.LayerNorm(embed_dim)
        self.self_attn = CLIPAttention(embed_dim, heads)
        self.layer_norm2 = torch.nn.LayerNorm(embed_dim)
        self.mlp = CLIPMLP(embed_dim, intermediate_size)

    def forward(self, x, mask=None, optimized_attention=None):
        x += self.self_attn(self.layer_norm1(x), mask)
        x += self.mlp(self.layer_norm2(x))
        return x


class CLIPEncoder(torch.nn.Module):
    def __init__(self, num_layers, embed_dim, heads, intermediate_size):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            CLIPLayer(embed_dim, heads, intermediate_size) for _ in range(num_layers)
        )

    def forward(self, x, mask=None, intermediate_output=None):
        if intermediate_output is not None and intermediate_output < 0:
            intermediate_output = len(self.layers) + intermediate_output
        intermediate = None
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, None)
            if i == intermediate_output:
                intermediate = x.clone()
        return x, intermediate


class CLIPEmbeddings(torch.nn.Module):
    def __init__(self, embed_dim, vocab_size=49408, num_positions=77):
        super().__init__()
        self.token_embedding = torch.nn.Embedding(vocab_size, embed_dim)
        self.position_embedding = torch.nn.Embedding(num_positions, embed_dim)

    def forward(self, input_tokens):
        return self.token_embedding(input_tokens) + self.position_embedding.weight


class CLIPTextModel_(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.eos_token_id = config["eos_token_id"]
        width = config["hidden_size"]
        self.embeddings = CLIPEmbeddings(width, config["vocab_size"], config["max_position_embeddings"])
        self.encoder = CLIPEncoder(
            config["num_hidden_layers"], width, config["num_attention_heads"], config["intermediate_size"]
        )
        self.final_layer_norm = torch.nn.LayerNorm(width)

    def forward(self, input_tokens, intermediate_output=None, final_layer_norm_intermediate=True):
        x = self.embeddings(input_tokens)
        n = x.shape[1]
        mask = torch.full((n, n), -torch.finfo(x.dtype).max, dtype=x.dtype).triu_(1)  # causal (:117)
        x, i = self.encoder(x, mask=mask, intermediate_output=intermediate_output)
        x = self.final_layer_norm(x)
        if i is not None and final_layer_norm_intermediate:
            i = self.final_layer_norm(i)
        pooled = x[torch.arange(x.shape[0]), (input_tokens == self.eos_token_id).int().argmax(dim=-1)]
        return x, i, pooled


class CLIPTextModel(torch.nn.Module):
    """comfy/clip_model.py:133-160 (the text projection is left out: the nodes never read it)."""

    def __init__(self, config):
        super().__init__()
        self.num_layers = config["num_hidden_layers"]
        self.text_model = CLIPTextModel_(config)

    def forward(self, *args, **kwargs):
        return self.text_model(*args, **kwargs)
