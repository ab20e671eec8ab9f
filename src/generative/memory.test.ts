// The memory estimate's activation term against what autograd actually keeps for the backward pass
// (counted with its saved-tensor hooks, on the CPU in fp32: engine/hone_engine/testing/saved_activations.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { loadConfig } from "../config/load.js";
import { ENGINE_DIR, pythonExecutable } from "../engine/python.js";
import { resolveConfig } from "../tasks/registry.js";
import { tinyLm } from "../testing/fixtures.js";
import type { MemoryEstimate } from "../run/resources.js";
import { estimateMemory } from "./memory.js";

const machine = { type: "probe" as const, torch: "x", transformers: "x", cuda: false, bf16: false, devices: [], cpu_threads: 2 };

function saved(model: string, batch: number, seq: number, r: number): number {
  const p = spawnSync(pythonExecutable(), ["-m", "hone_engine.testing.saved_activations", model, String(batch), String(seq), String(r)], {
    env: { ...process.env, PYTHONPATH: ENGINE_DIR },
    encoding: "utf8",
  });
  assert.equal(p.status, 0, p.stderr);
  return (JSON.parse(p.stdout.trim().split("\n").at(-1)!) as { bytes: number }).bytes;
}

test("the estimate's activations are within 20% of what autograd keeps, with an adapter and in full fine-tuning", () => {
  const model = tinyLm();
  for (const [method, r] of [
    ["lora", 16],
    ["none", 0],
  ] as const) {
    const cfg = resolveConfig(
      loadConfig(null, ["task=sft", `adapter.method=${method}`, "adapter.r=16", "train.batch_size=4", "data.max_length=64"], {
        data: { train: "chat.jsonl" },
        model: { path: model },
      }),
      machine,
    );
    const estimate = estimateMemory(cfg, false)!;
    const measured = saved(model, 4, 64, r);
    const ratio = measured / estimate.activations;
    assert.ok(ratio > 0.8 && ratio < 1.2, `${method}: autograd keeps ${measured} bytes, the estimate says ${estimate.activations} (${ratio.toFixed(2)}x)`);
  }
});

test("offloading the optimizer takes its 8 bytes a trained parameter off the estimate", () => {
  const gpu = { ...machine, cuda: true, bf16: true, devices: ["a"] };
  for (const method of ["lora", "none"]) {
    const estimate = (offload: boolean) =>
      estimateMemory(
        resolveConfig(
          loadConfig(null, ["task=sft", `adapter.method=${method}`, `train.optimizer_offload=${offload}`], {
            data: { train: "c.jsonl" },
            model: { path: tinyLm() },
          }),
          gpu,
        ),
        false,
      )!;
    const [on, off] = [estimate(true), estimate(false)];
    assert.equal(off.trained_state - on.trained_state, 8 * on.inputs.trained_parameters, method);
    assert.equal(on.inputs.optimizer_offload, true);
    assert.equal(off.total - on.total, 8 * on.inputs.trained_parameters);
  }
});

test("an activation budget keeps the layers' inputs and that share of the rest; without compile it is 1", () => {
  const gpu = { ...machine, cuda: true, bf16: true, devices: ["a"] };
  const cfg = (sets: string[], m = gpu) => resolveConfig(loadConfig(null, ["task=sft", ...sets], { data: { train: "c.jsonl" }, model: { path: tinyLm() } }), m);
  const budgeted = (b: number) => estimateMemory(cfg([`train.activation_budget=${b}`]), false)!;
  const [all, half, none] = [budgeted(1), budgeted(0.5), budgeted(0.01)];
  const inputs = all.inputs.tokens_per_micro_batch * all.inputs.layers * all.inputs.hidden * all.inputs.bytes_per_activation;
  const remainder = (e: MemoryEstimate) => e.activations - inputs;
  assert.ok(Math.abs(remainder(half) / remainder(all) - 0.5) < 0.05, `${remainder(half)} / ${remainder(all)}`);
  assert.ok(none.activations < half.activations && half.activations < all.activations);
  assert.equal(half.inputs.activation_budget, 0.5);
  assert.equal(cfg(["train.activation_budget=0.5", "train.compile=false"]).train.activation_budget, 1);
  assert.equal(cfg(["train.activation_budget=0.5"], machine).train.activation_budget, 1);
});
