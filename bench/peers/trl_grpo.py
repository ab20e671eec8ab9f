"""The peer of bench/grpo.mjs on the GPU: TRL's GRPOTrainer with the same model, prompts, reward,
group size, answer length, learning rate, LoRA and steps as Hone's run. The reward is
examples/support-chat/reward.ts written in Python (the same rule: 1 when the answer names the row's
topic first, 0.2 when it names it later, minus 0.1 past 40 words).

  python bench/peers/trl_grpo.py --model DIR --prompts prompts.train.jsonl --steps N --out DIR
      [--group-size 8] [--batch-prompts 4] [--max-new-tokens 48] [--lr 2e-5] [--seed 0]
Prints one JSON line: the reward of every step, wall time, tokens, versions.
"""

import argparse
import json
import time


def reward_of(completion: str, topic: str) -> float:
    text = completion.strip()
    named = 1.0 if text.startswith(f"{topic}:") else 0.2 if topic in text else 0.0
    return named - (0.1 if len(text.split()) > 40 else 0.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--batch-prompts", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    import datasets
    import peft
    import torch
    import transformers
    import trl
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    rows = [json.loads(line) for line in open(a.prompts) if line.strip()]
    data = datasets.Dataset.from_list([{"prompt": r["prompt"], "topic": r["fields"]["topic"]} for r in rows])

    def reward(completions, topic, **_):
        return [reward_of(c[-1]["content"] if isinstance(c, list) else c, t) for c, t in zip(completions, topic)]

    cfg = GRPOConfig(
        output_dir=a.out,
        max_steps=a.steps,
        per_device_train_batch_size=a.batch_prompts * a.group_size,
        num_generations=a.group_size,
        max_completion_length=a.max_new_tokens,
        temperature=1.0,
        top_p=1.0,
        beta=0.0,
        epsilon=0.2,
        learning_rate=a.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        bf16=True,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=a.seed,
        gradient_checkpointing=False,
    )
    trainer = GRPOTrainer(
        model=a.model,
        reward_funcs=reward,
        args=cfg,
        train_dataset=data,
        peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    torch.cuda.synchronize()
    t0 = time.time()
    trainer.train()
    torch.cuda.synchronize()
    wall = time.time() - t0
    logs = [h for h in trainer.state.log_history if "reward" in h]
    print(
        json.dumps(
            {
                "wall_s": wall,
                "steps": a.steps,
                "rewards": [h["reward"] for h in logs],
                "completion_length": [h.get("completions/mean_length", h.get("completion_length")) for h in logs],
                "num_tokens": trainer.state.num_input_tokens_seen if hasattr(trainer.state, "num_input_tokens_seen") else None,
                "logs": logs,
                "versions": {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__, "peft": peft.__version__},
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
            }
        )
    )


if __name__ == "__main__":
    main()
