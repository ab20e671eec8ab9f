"""The peer: a plain Hugging Face + PyTorch training loop, as people write it.

AutoModelForSequenceClassification, tokenizer on the fly with DataCollatorWithPadding (dynamic
padding), shuffled DataLoader, torch AdamW, linear schedule, bf16 autocast, SDPA attention.
Prints {"samples_per_s": ...} measured after warm-up steps.
"""

import json
import sys
import time

import torch
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, PreTrainedTokenizerFast, get_linear_schedule_with_warmup

model_dir, data_file, epochs, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = json.load(open(data_file))["train"]
labels = sorted({l for _, l in rows})
tok = PreTrainedTokenizerFast(tokenizer_file=f"{model_dir}/tokenizer.json", pad_token="[PAD]", unk_token="[UNK]")
enc = tok([t for t, _ in rows], truncation=True, max_length=64)
data = [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": labels.index(l)} for i, (_, l) in enumerate(rows)]
torch.manual_seed(0)
loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=DataCollatorWithPadding(tok))
model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(labels), attn_implementation="sdpa").cuda()
opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
total = epochs * len(loader)
sched = get_linear_schedule_with_warmup(opt, int(0.06 * total), total)
model.train()
step, warm, t0 = 0, 20, None
torch.cuda.synchronize()
start = time.time()
for _ in range(epochs):
    for batch in loader:
        batch = {k: v.cuda(non_blocking=True) for k, v in batch.items()}
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        if step == warm:
            torch.cuda.synchronize()
            t0 = time.time()
torch.cuda.synchronize()
print(json.dumps({"samples_per_s": (step - warm) * batch_size / (time.time() - t0), "steps": step, "final_loss": loss.item(), "wall_s": time.time() - start}))
