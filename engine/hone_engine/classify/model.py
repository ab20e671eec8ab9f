"""A shared pretrained encoder with one linear head per task (one head = plain classification)."""

import re

from safetensors.torch import load_file
from torch import nn
from transformers import AutoConfig, AutoModel

from ..protocol import EngineError

# Names of the repeated encoder blocks across BERT, RoBERTa, DeBERTa (layer.N),
# DistilBERT (transformer.layer.N), ModernBERT (layers.N) and GPT-style (h.N / blocks.N).
LAYER_INDEX = re.compile(r"(?:^|\.)(?:layer|layers|block|blocks|h)\.(\d+)\.")


class Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, heads: list, pooling: str, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        self.heads = nn.ModuleDict({h["name"]: nn.Linear(hidden, h["num_labels"]) for h in heads})
        # Targets per token (tags): padded like the ids. Token and span heads read every position.
        self.token_heads = frozenset(h["name"] for h in heads if h["level"] == "token")
        self.position_heads = frozenset(h["name"] for h in heads if h["level"] in ("token", "span"))

    def pool(self, hidden, attention_mask):
        if self.pooling == "mean":
            # Mean over real tokens: what sentence-embedding models were trained with.
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return hidden[:, 0]

    def embed(self, input_ids, attention_mask):
        """The text's vector, as the sequence heads read it (before dropout): what the contrastive
        stage shapes and what a head's initial rows are made of."""
        return self.pool(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state, attention_mask)

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        out = {}
        if self.position_heads:
            # Token heads (tags) and span heads (answer start/end) read every position; sequence
            # heads the pooled vector.
            tokens = self.dropout(hidden)
            out = {name: self.heads[name](tokens) for name in self.position_heads}
            if len(out) == len(self.heads):
                return out
        pooled = self.dropout(self.pool(hidden, attention_mask))
        return out | {name: head(pooled) for name, head in self.heads.items() if name not in self.position_heads}


def _config(spec: dict):
    try:
        config = AutoConfig.from_pretrained(spec["path"], trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise EngineError("model_load", f"cannot read the model config in {spec['path']}: {e}") from None
    if spec["encoder_dropout"] is not None:
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout"):
            if hasattr(config, key):
                setattr(config, key, spec["encoder_dropout"])
    return config


def _drop_pooler(encoder: nn.Module) -> nn.Module:
    # BERT-style poolers are never used by our heads; an unused parameter only costs
    # memory and breaks DDP's "every parameter gets a gradient" check.
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    return encoder


def build(spec: dict, heads: list, pretrained: bool) -> Classifier:
    """pretrained=True loads the encoder's weights from the model directory (training);
    False builds the architecture only, for weights that follow from a Hone checkpoint."""
    config = _config(spec)
    try:
        if pretrained:
            encoder = AutoModel.from_pretrained(spec["path"], config=config, use_safetensors=True, trust_remote_code=False)
        else:
            encoder = AutoModel.from_config(config, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise EngineError("model_load", f"cannot load the encoder from {spec['path']}: {e}") from None
    return Classifier(_drop_pooler(encoder), heads, spec["pooling"], spec["dropout"])


def load_weights(model: Classifier, path: str, strict: bool, heads: bool = True) -> list:
    """Load a Hone checkpoint. With strict=False, tensors missing here or of another shape are
    skipped; heads=False keeps the heads freshly initialised (the labels differ). Returns the
    names left as they were."""
    try:
        state = load_file(path)
    except Exception as e:  # safetensors raises its own error types
        raise EngineError("checkpoint", f"cannot read weights {path}: {e}") from None
    own = model.state_dict()
    skipped = [k for k, v in state.items() if k not in own or own[k].shape != v.shape or (not heads and k.startswith("heads."))]
    if strict and (skipped or set(own) - set(state)):
        raise EngineError("checkpoint", f"weights {path} do not fit the model: {sorted(set(own) ^ set(state))[:5]}")
    model.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    return sorted(set(skipped) | (set(own) - set(state)))


def freeze(model: Classifier, spec: dict) -> None:
    patterns = [re.compile(p) for p in spec["patterns"]]
    for name, param in model.encoder.named_parameters():
        layer = LAYER_INDEX.search(name)
        if (
            (spec["embeddings"] and "embeddings" in name)
            or (layer is not None and int(layer.group(1)) < spec["layers"])
            or any(p.search(name) for p in patterns)
        ):
            param.requires_grad_(False)


def param_groups(model: Classifier, lr: float, head_lr: float, weight_decay: float) -> list:
    """Weight decay on matrices only (not biases or norms); heads may learn faster than the encoder."""
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_head = name.startswith("heads.")
        decay = p.ndim >= 2
        key = (is_head, decay)
        if key not in groups:
            groups[key] = {"params": [], "lr": head_lr if is_head else lr, "weight_decay": weight_decay if decay else 0.0}
        groups[key]["params"].append(p)
    for g in groups.values():
        g["base_lr"] = g["lr"]
    return [groups[k] for k in sorted(groups)]
