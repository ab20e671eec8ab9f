"""python -m hone_engine.testing.saved_activations MODEL_DIR BATCH SEQ R [CHECKPOINTED [BUDGET]]

Bytes autograd keeps for the backward pass of a causal LM's decoder (embeddings to the final norm,
no output layer) on the CPU in fp32: every tensor its saved-tensor hooks see, once, less the
parameters. R > 0 adds a peft LoRA adapter of rank R on all linear layers; 0 trains all weights.
CHECKPOINTED: decoder layers under activation checkpointing (the first N; "all"), whose forward
keeps nothing for the backward pass but their input. BUDGET: the decoder layers compiled as the
engine compiles them (lm.compile_decoder) with that activation budget; what the compiled layers keep.
The memory estimate's activation term is checked against it (src/generative/memory.test.ts)."""

import json
import sys

import torch


def main(model_dir: str, batch: int, seq: int, r: int, checkpointed: int | bool = False, budget: float | None = None) -> int:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa", dtype=torch.float32)
    model.config.use_cache = False
    if r > 0:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"))
    if checkpointed:
        from ..lm.models import checkpoint_layers

        model.train()  # checkpointing applies in training only
        checkpoint_layers(model, checkpointed)
    import torch._functorch.config as functorch_config

    before = functorch_config.activation_memory_budget
    if budget is not None:
        from ..lm.models import compile_decoder

        torch._dynamo.reset()  # a graph compiled under another budget is not reused
        compile_decoder(model, budget=budget)
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.base_model.model.model
    params = {p.data_ptr() for p in model.parameters()}
    kept: dict = {}

    def pack(t):
        if t.data_ptr() not in params:
            kept.setdefault(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        return t

    ids = torch.randint(0, model.config.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(0))
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            decoder(input_ids=ids)
    finally:
        functorch_config.activation_memory_budget = before  # the process's setting, as it was
    print(json.dumps({"bytes": sum(kept.values())}))
    return 0


if __name__ == "__main__":
    ckpt = sys.argv[5] if len(sys.argv) > 5 else "0"
    budget = float(sys.argv[6]) if len(sys.argv) > 6 else None
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), True if ckpt == "all" else int(ckpt), budget))
