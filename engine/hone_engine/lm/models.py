"""Language models as Hone trains them: loaded from a local folder (safetensors only, no remote
code) with a peft adapter or all weights trainable; frozen parts; compiled decoder layers; saved
as Hugging Face tools read them. Causal LMs, and encoder-decoders (T5, BART: spec["architecture"]
== "seq2seq")."""

import os
import re

import torch
from safetensors.torch import load_file

from .. import runtime
from ..classify.model import LAYER_INDEX
from ..offload import HostAdamW
from ..protocol import EngineError
from . import varlen

WEIGHT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _nf4() -> dict:
    """QLoRA's base (Dettmers et al. 2023): every linear layer's weight in 4-bit NormalFloat with
    its 64-value block scales quantized again (double quantization), dequantized block by block
    in each matmul; computing in bf16 on a GPU, fp32 on the CPU. Embeddings, norms and the output
    layer keep the compute dtype. The adapter that trains on top is full precision."""
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as e:
        raise EngineError("model_load", f"adapter.quantize nf4 needs bitsandbytes: {e}") from None
    compute = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
    # Placed as it loads (bitsandbytes quantizes on the way to the device): this process's GPU under torchrun.
    place = int(os.environ.get("LOCAL_RANK", "0")) if torch.cuda.is_available() else "cpu"
    return {"quantization_config": config, "dtype": compute, "device_map": {"": place}}


def quantized(model) -> bool:
    """The base is held in 4 bits (its matmuls are bitsandbytes', which fused_lora cannot fold)."""
    return bool(getattr(model, "is_loaded_in_4bit", False) or getattr(getattr(model, "base_model", None), "is_loaded_in_4bit", False))


def _attention(path: str) -> str:
    """SDPA, with packed rows attended by their sequence boundaries (varlen.py), unless a layer
    attends through a sliding window (the boundaries would let it see past its window)."""
    from transformers import AutoConfig

    if os.environ.get("HONE_PACKED_ATTENTION") == "mask":  # benchmarks: transformers' own packed path, for an A/B
        return "sdpa"
    config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    types = set(getattr(text, "layer_types", None) or [])
    windowed = (getattr(text, "sliding_window", None) and getattr(text, "use_sliding_window", True)) or bool(types - {"full_attention"})
    if windowed:
        return "sdpa"
    varlen.register()
    return varlen.ATTENTION


def load(spec: dict, adapter: dict | None, trainable: bool):
    """The base model from its directory, then the run's adapter (spec["adapter"]) or a new one
    (adapter = the job's AdapterSpec with a method other than none)."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification

    seq2seq = spec["architecture"] == "seq2seq"
    reward = spec["head"] == "reward"
    common = dict(dtype=WEIGHT_DTYPES.get(spec["dtype"]), use_safetensors=True, trust_remote_code=False)
    if spec["dtype"] == "nf4":
        common.update(_nf4())
    try:
        if reward:  # the decoder with one output number; the score layer is new on a base model
            model = AutoModelForSequenceClassification.from_pretrained(spec["path"], num_labels=1, attn_implementation="sdpa", **common)
            model.config.pad_token_id = spec["pad_token_id"]
        elif seq2seq:  # each architecture's own attention (T5's relative position bias is not SDPA's)
            model = AutoModelForSeq2SeqLM.from_pretrained(spec["path"], **common)
        else:
            model = AutoModelForCausalLM.from_pretrained(spec["path"], attn_implementation=_attention(spec["path"]), **common)
    except (OSError, ValueError) as e:
        raise EngineError("model_load", f"cannot load the {'encoder-decoder' if seq2seq else 'causal LM'} from {spec['path']}: {e}") from None
    model.config.use_cache = False  # training never decodes; generation turns it back on
    if spec["adapter"]:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, spec["adapter"], is_trainable=trainable)
        except (OSError, ValueError) as e:
            raise EngineError("model_load", f"cannot load the adapter from {spec['adapter']}: {e}") from None
    elif adapter is not None and adapter["method"] != "none":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=adapter["r"],
            lora_alpha=adapter["alpha"],
            lora_dropout=adapter["dropout"],
            target_modules=adapter["target_modules"],
            # SEQ_CLS makes peft train and save the new score layer whole beside the adapter.
            use_dora=adapter["method"] == "dora",
            task_type="SEQ_CLS" if reward else "SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM",
            bias="none",
        )
        model = get_peft_model(model, config)
    return model


def causal(model):
    """The *ForCausalLM under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def is_seq2seq(model) -> bool:
    return bool(getattr(causal(model).config, "is_encoder_decoder", False))


def freeze(model, spec: dict) -> None:
    """Full fine-tuning only (an adapter already freezes the base)."""
    patterns = [re.compile(p) for p in spec["patterns"]]
    for name, param in model.named_parameters():
        layer = LAYER_INDEX.search(name)
        if (
            (spec["embeddings"] and ("embed_tokens" in name or "wte" in name or "wpe" in name))
            or (layer is not None and int(layer.group(1)) < spec["layers"])
            or any(p.search(name) for p in patterns)
        ):
            param.requires_grad_(False)


def checkpoint_layers(model, setting) -> int:
    """Activation checkpointing: every decoder layer (True), none (False), or the first N layers,
    which then keep only their input for the backward pass and recompute the rest (one layer's
    worth at a time). Non-reentrant: works with frozen embeddings (adapters) without input-grad
    tricks. Returns how many layers are checkpointed."""
    if setting is False or setting == 0:
        return 0
    from transformers.modeling_layers import GradientCheckpointingLayer

    causal(model).gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    layers = [m for m in causal(model).modules() if isinstance(m, GradientCheckpointingLayer)]
    n = len(layers) if setting is True else min(int(setting), len(layers))
    for layer in layers[n:]:
        layer.gradient_checkpointing = False
    return n


def compile_decoder(model, varying: bool = False, budget: float = 1.0, flex_width: int | None = None) -> None:
    """torch.compile each decoder layer, not the decoder's forward: the attention mask is then built
    outside the compiled code, where transformers can tell that a batch needs none and lets SDPA
    attend causally with its flash kernel (while tracing, transformers before torch 2.14 always
    builds a dense mask, and masked attention took 2.5x as long at 2048 tokens on an H200).
    varying: batches differ in shape (real lengths: row widths, sequences a packed row, the longest
    sequence), so the layers compile for symbolic shapes at once; left to discover them, torch
    recompiled once per newly varying size, ~15-30 s each on an H200, three times in 16 steps.
    budget: train.activation_budget, for AOTAutograd's memory-budget partitioner, which splits each
    compiled layer's joint graph into forward and backward keeping at most that share of the
    activations its default split would keep (above the layer's inputs), recomputing the rest by
    an estimate of their cost: elementwise work first (norms, rotary embeddings, SiLU x up), which
    costs memory bandwidth, not matmuls. One setting for the process: the layers compile lazily,
    at their first call, and read it then.
    flex_width: packed batches all that wide attend through FlexAttention (varlen.flex_width); the
    layers then compile for that one shape, whatever `varying` says (validation's unpacked batches
    of other widths compile once more, for symbolic shapes: torch's automatic dynamic shapes)."""
    import torch._functorch.config as functorch_config
    import torch.fx.experimental._config as shapes_config

    functorch_config.activation_memory_budget = budget
    varying = varying and not flex_width
    if varying:
        # No duck sizing: torch gives dimensions of equal size one symbol, so a first batch of rows
        # as wide as the model (2048 tokens on a 2048-wide model, 4096 on a 4096-wide one) ties the
        # sequence length to the weights' width and fixes it there; the first narrower batch then
        # compiled every layer again (~27 s on an H100, measured with TORCH_LOGS=recompiles).
        shapes_config.use_duck_shape = False
    if is_seq2seq(model):  # two stacks: the whole model, one graph
        causal(model).compile(dynamic=True if varying else None)
        return
    runtime.compile_blocks(causal(model).base_model, dynamic=True if varying else None)
    causal(model).hone_flex_width = flex_width  # packed batches of this width: FlexAttention (logp.py)


def save_pretrained(model, directory, state_dict=None) -> None:
    """The model as Hugging Face tools read it: a peft adapter folder, or a full model folder.
    state_dict: the weights gathered whole from FSDP shards (default: the model's own)."""
    (directory / "model").mkdir(parents=True, exist_ok=True)
    extra = {} if state_dict is None else {"state_dict": state_dict}
    model.save_pretrained(directory / "model", safe_serialization=True, **extra)


def load_pretrained_weights(model, directory) -> None:
    """The inverse of save_pretrained, into an already built model (resume)."""
    folder = directory / "model"
    if hasattr(model, "get_base_model"):
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))
        if getattr(result, "unexpected_keys", None):
            raise EngineError("checkpoint", f"adapter weights in {folder} do not fit: {result.unexpected_keys[:3]}")
        return
    files = sorted(folder.glob("*.safetensors"))
    state = {}
    for f in files:
        state.update(load_file(f))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    if unexpected or any(k not in tied and not k.endswith("lm_head.weight") for k in missing):
        raise EngineError("checkpoint", f"weights in {folder} do not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")


def adamw(params: list, opt_cfg: dict, device, offload: bool = False) -> torch.optim.Optimizer:
    """AdamW over the trained parameters: weight decay on matrices only (not on norms and biases);
    offload: its state and update in host memory (offload.py)."""
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [g for g in ({"params": decay, "weight_decay": opt_cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    for g in groups:
        g["lr"] = g["base_lr"] = opt_cfg["lr"]
    if offload:
        return HostAdamW(groups, betas=tuple(opt_cfg["betas"]), eps=opt_cfg["eps"])
    return torch.optim.AdamW(groups, betas=tuple(opt_cfg["betas"]), eps=opt_cfg["eps"], fused=torch.device(device).type == "cuda")
