"""The language-model family: models.py (load, freeze, compile, save), data.py (shards, batches,
epoch order), logp.py (log-probabilities, rewards, evaluation statistics), preference.py (the
preference losses). Recipes use them as
`lm.<name>`."""

from . import varlen
from .data import LmShard, collate, collate_seq2seq, epoch_rows, load_shard, mover
from .logp import LOGIT_CHUNK, FrozenHeadLogp, TrainedHeadLogpSum, all_logps, logp_and_grad, sequence_logps, sequence_rewards, summed_logp, token_logps
from .models import (
    WEIGHT_DTYPES,
    adamw,
    causal,
    checkpoint_layers,
    compile_decoder,
    freeze,
    is_seq2seq,
    load,
    load_pretrained_weights,
    quantized,
    save_pretrained,
)
from .preference import losses as preference_losses
from .preference import needs_reference

__all__ = [
    "LOGIT_CHUNK",
    "WEIGHT_DTYPES",
    "quantized",
    "FrozenHeadLogp",
    "LmShard",
    "TrainedHeadLogpSum",
    "adamw",
    "all_logps",
    "causal",
    "checkpoint_layers",
    "collate",
    "collate_seq2seq",
    "compile_decoder",
    "epoch_rows",
    "freeze",
    "is_seq2seq",
    "load",
    "load_pretrained_weights",
    "logp_and_grad",
    "load_shard",
    "mover",
    "needs_reference",
    "preference_losses",
    "save_pretrained",
    "sequence_logps",
    "sequence_rewards",
    "summed_logp",
    "token_logps",
    "varlen",
]
