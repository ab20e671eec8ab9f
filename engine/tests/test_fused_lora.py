"""The one-matmul LoRA forward (hone_engine.fused_lora) against peft's own, on a tiny Llama."""

import copy

import torch
from hone_engine import fused_lora
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM


def _pair():
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=128)
    base = get_peft_model(LlamaForCausalLM(cfg), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear"))
    for n, p in base.named_parameters():  # peft starts B at zero: give it values, so the side path counts
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.05)
    fused = copy.deepcopy(base)
    assert fused_lora.fuse(fused) == (14, 4)  # 7 linear layers a block, 2 blocks; q/k/v and gate/up grouped
    return base, fused


def _loss_and_grads(model, ids):
    model.zero_grad(set_to_none=True)
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_fused_lora_matches_peft_in_loss_and_every_adapter_gradient(monkeypatch):
    base, fused = _pair()
    ids = torch.randint(0, 128, (3, 17))
    sizes, group_matmul = [], fused_lora.group_matmul

    def counted(x, weights, *rest):
        sizes.append(len(weights))
        return group_matmul(x, weights, *rest)

    monkeypatch.setattr(fused_lora, "group_matmul", counted)
    l0, g0 = _loss_and_grads(base, ids)
    l1, g1 = _loss_and_grads(fused, ids)
    assert sizes == [3, 1, 2, 1] * 2  # a block: q/k/v as one matmul, o, gate/up as one, down
    assert abs(l0.item() - l1.item()) < 1e-6
    assert g0.keys() == g1.keys() and len(g0) == 28
    for n in g0:
        assert torch.allclose(g0[n], g1[n], atol=1e-6, rtol=1e-4), n


def test_fused_lora_falls_back_to_peft_with_the_adapter_switched_off():
    base, fused = _pair()
    ids = torch.randint(0, 128, (2, 9))
    with torch.no_grad(), base.disable_adapter(), fused.disable_adapter():
        off_base, off_fused = base(input_ids=ids).logits, fused(input_ids=ids).logits
    with torch.no_grad():
        on_fused = fused(input_ids=ids).logits
    assert torch.allclose(off_base, off_fused, atol=1e-6)
    assert not torch.allclose(off_fused, on_fused, atol=1e-3)  # the adapter counts when it is on
