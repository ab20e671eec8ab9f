// task: grpo — online reinforcement learning of a language model from prompts, rewarded by a
// function the user writes (grpo.reward). The engine (recipes/lm_grpo.py) samples group_size
// answers per prompt and waits; this plug-in decodes them, calls the reward function, logs every
// answer with its reward and advantage (runs/<id>/grpo/<split>/step-N/samples.jsonl) and answers
// with the numbers. Validation: greedy answers, mean reward (the selection metric).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { resolveLm } from "../../config/resolve.js";
import { resolvePath } from "../../config/load.js";
import type { ResolvedConfig } from "../../config/resolve.js";
import { storedConfig } from "../../config/resolved.js";
import { rowFormat } from "../../data/load.js";
import { splitExamples } from "../../data/split.js";
import { type PromptRow, readPromptSource } from "../../generative/data.js";
import { lmEncoder } from "../../generative/dataset.js";
import type { LmEncoder } from "../../generative/encode.js";
import { generationMetrics, type LmMetrics } from "../../generative/metrics.js";
import {
  causalOnly,
  finishedLmRun,
  generateTexts,
  installModel,
  lmModelBytes,
  type LmPlan,
  optimSpec,
  specialIds,
  writeModelFolder,
} from "../../generative/pipeline.js";
import type { EventOf, LmGrpoJob, LmShard } from "../../protocol/schema.js";
import { PROTOCOL_VERSION } from "../../protocol/schema.js";
import { runtimeSpec } from "../../predict/logits.js";
import { runPaths } from "../../run/artifacts.js";
import { stepName } from "../../run/checkpoints.js";
import type { RunContext, TaskPlugin } from "../../run/types.js";
import type { RunRecord, RunStore } from "../../store/store.js";
import { readU32, writeLmShard } from "../../tokenize/shards.js";
import { HoneError } from "../../util/errors.js";
import { sha256, writeFileAtomic } from "../../util/fs.js";
import { num, pct, table } from "../../util/table.js";
import { loadReward, type RewardFn, type RewardInput, rewardAll } from "./reward.js";
import { RUN_PREFIX, rewardRun, scoreWithRun } from "./reward-run.js";

type Split = "train" | "validation" | "test";
const SPLITS: Split[] = ["train", "validation", "test"];

/** A generative run's plan (what `hone generate`, serve and export read), over prompts. */
type GrpoPlan = Omit<LmPlan, "format"> & { format: "prompt" };

interface GrpoFiles {
  shards: Record<Split, LmShard | null>;
  /** Each split's prompt rows (JSON lines), in shard order: what the reward function sees. */
  rows: Record<Split, string | null>;
}

/** One answer as logged and shown. */
interface Scored {
  prompt: PromptRow["prompt"];
  completion: string;
  reward: number;
  advantage?: number;
  origin: string;
}

const rewards = new Map<string, Promise<RewardFn>>();
const rewardOf = (cfg: ResolvedConfig) => {
  const file = cfg.lm!.grpo!.reward;
  if (!rewards.has(file)) rewards.set(file, loadReward(file));
  return rewards.get(file)!;
};

/** Rewards of answers: the user's function, or a reward run's model (`run:<id or name>`). */
async function rewardsOf(cfg: ResolvedConfig, store: RunStore, inputs: (RewardInput & { origin: string })[], work: string): Promise<number[]> {
  const source = cfg.lm!.grpo!.reward;
  if (source.startsWith(RUN_PREFIX)) return scoreWithRun(store, source, inputs, work);
  return rewardAll(await rewardOf(cfg), inputs);
}

const readRows = (file: string): PromptRow[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as PromptRow);

const readScored = (file: string): Scored[] =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Scored)
    : [];

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
const std = (v: number[]) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));

/** Mean reward (and exact match where every row has a text "answer") of answers. */
function grpoMetrics(scored: Scored[], rows: PromptRow[]): LmMetrics {
  const values = scored.map((s) => s.reward);
  const answers = rows.map((r) => r.fields.answer);
  const exact = answers.length > 0 && answers.every((a) => typeof a === "string");
  return {
    kind: "lm",
    task: "grpo",
    count: scored.length,
    loss: -mean(values),
    reward: mean(values),
    reward_std: std(values),
    ...(exact
      ? generationMetrics(
          answers as string[],
          scored.map((s) => s.completion),
          null,
        )
      : {}),
  };
}

/** Greedy answers of the run's model (or of the model it started from: `base`) to prompt rows, rewarded; written to `file`. */
async function answerAndReward(
  store: RunStore,
  cfg: ResolvedConfig,
  plan: GrpoPlan,
  modelDir: string,
  rows: PromptRow[],
  outDir: string,
  file: string,
  base = false,
): Promise<LmMetrics> {
  const gens = await generateTexts(
    cfg,
    plan as unknown as LmPlan,
    modelDir,
    rows.map((r) => r.prompt),
    outDir,
    { temperature: 0, max_new_tokens: cfg.lm!.grpo!.max_new_tokens, base },
  );
  const values = await rewardsOf(
    cfg,
    store,
    rows.map((r, i) => ({ prompt: r.prompt, completion: gens.texts[i]!, example: r.fields, origin: r.origin })),
    join(outDir, "scored"),
  );
  const scored = rows.map((r, i) => ({ prompt: r.prompt, completion: gens.texts[i]!, reward: values[i]!, origin: r.origin }));
  writeFileAtomic(file, `${scored.map((s) => JSON.stringify(s)).join("\n")}\n`);
  return grpoMetrics(scored, rows);
}

const encoders = new Map<string, LmEncoder>();
const encoderOf = (cfg: ResolvedConfig, modelDir: string) => {
  if (!encoders.has(modelDir)) encoders.set(modelDir, lmEncoder(cfg, modelDir));
  return encoders.get(modelDir)!;
};

const task: TaskPlugin<GrpoPlan, GrpoFiles, LmMetrics> = {
  name: "grpo",
  summary: "online reinforcement learning (GRPO) of a causal LM from prompts, with a reward function written in TypeScript or JavaScript",
  config: {
    model: "generator",
    defaultModel: "smollm2-135m-instruct",
    defaultMaxLength: 1024,
    // An adapter learns at about 20x a full fine-tune's rate; RL steps are small either way.
    defaultLr: (_hidden, adapter) => (adapter ? 2e-5 : 1e-6),
    selection: { allowed: ["reward", "loss"], auto: () => "reward" },
    check(c, info) {
      causalOnly("grpo", info);
      if (c.grpo.reward === null)
        throw new HoneError("config", "task grpo needs a reward", [
          {
            path: ["grpo", "reward"],
            message: "no reward module",
            hint: "grpo: { reward: ./reward.ts } exporting a function ({ prompt, completion, example }) => number",
          },
        ]);
      if ((typeof c.train.processes === "number" && c.train.processes > 1) || c.train.fsdp || c.train.nodes.count > 1)
        throw new HoneError("config", "task grpo trains in one process", [
          {
            path: ["train", "processes"],
            message: "several processes are for sft, dpo and reward",
            hint: "remove train.processes, train.fsdp and train.nodes",
          },
        ]);
    },
    section: (c, ctx) => ({
      lm: {
        ...resolveLm(c, ctx, false),
        head: "lm",
        grpo: { ...c.grpo, reward: c.grpo.reward!.startsWith(RUN_PREFIX) ? c.grpo.reward! : resolvePath(ctx.baseDir, c.grpo.reward!) },
      },
    }),
  },
  serves: "chat",
  generates: true,

  async stage(cfg, { store, update }) {
    const read = (s: Split) => {
      const src = cfg.data[s];
      return src ? readPromptSource({ path: src.path, format: rowFormat(src), pointer: src.pointer ?? undefined }) : [];
    };
    const given = { train: read("train"), validation: read("validation"), test: read("test") };
    const fractions = { validation: cfg.data.validation ? 0 : cfg.data.split.validation, test: cfg.data.test ? 0 : cfg.data.split.test };
    const held = splitExamples(given.train, fractions, cfg.data.split.seed, false);
    const rows: Record<Split, PromptRow[]> = {
      train: held.train,
      validation: cfg.data.validation ? given.validation : held.validation,
      test: cfg.data.test ? given.test : held.test,
    };
    const encoder = lmEncoder(cfg);
    // A reward that cannot be had is refused before any work starts.
    if (cfg.lm!.grpo!.reward.startsWith(RUN_PREFIX)) rewardRun(store, cfg.lm!.grpo!.reward);
    else await rewardOf(cfg);
    // A prompt with no room left for an answer is dropped, and counted.
    const room = cfg.data.max_length - cfg.lm!.grpo!.max_new_tokens;
    const ids = {} as Record<Split, Uint32Array[]>;
    let dropped = 0;
    for (const s of SPLITS) {
      const all = await encoder.encodePrompts(rows[s].map((r) => r.prompt));
      const keep = all.map((x) => x.length <= room);
      dropped += keep.filter((k) => !k).length;
      rows[s] = rows[s].filter((_, i) => keep[i]);
      ids[s] = all.filter((_, i) => keep[i]);
    }
    if (dropped > 0) update({ kind: "warning", text: `${dropped} prompt(s) longer than data.max_length - grpo.max_new_tokens (${room} tokens) dropped` });
    if (rows.train.length === 0)
      throw new HoneError("data", "no training prompts left", [
        { message: "every prompt was dropped", hint: "raise data.max_length or lower grpo.max_new_tokens" },
      ]);
    const { padId, stop } = specialIds(cfg, encoder);
    const t = cfg.train;
    const stepsPerEpoch = Math.ceil(Math.ceil(rows.train.length / t.batch_size) / t.grad_accum);
    const total = t.max_steps ?? Math.max(1, Math.round(stepsPerEpoch * t.epochs));
    const plan: GrpoPlan = {
      format: "prompt",
      counts: { train: rows.train.length, validation: rows.validation.length, test: rows.test.length },
      rows: rows.train.length,
      steps_per_epoch: stepsPerEpoch,
      total_steps: total,
      warmup_steps: Math.floor(total * t.warmup_ratio),
      eval_every_steps: Math.min(total, t.eval_every === "epoch" ? stepsPerEpoch : t.eval_every),
      padding: null,
      truncated: 0,
      dropped,
      pad_token_id: padId,
      stop_token_ids: stop,
      template: encoder.template?.source.origin ?? null,
    };
    return {
      plan,
      dataHash: sha256(JSON.stringify(SPLITS.map((s) => rows[s].map((r) => [r.prompt, r.fields])))),
      parents: [],
      async write(paths) {
        writeModelFolder(cfg, encoder, paths.model);
        const files: GrpoFiles = { shards: { train: null, validation: null, test: null }, rows: { train: null, validation: null, test: null } };
        for (const s of SPLITS) {
          if (rows[s].length === 0) continue;
          files.shards[s] = writeLmShard(
            paths.data,
            s,
            ids[s].map((x) => ({ ids: x, mask: null })),
            null,
          );
          files.rows[s] = join(paths.data, `prompts.${s}.jsonl`);
          writeFileAtomic(files.rows[s]!, `${rows[s].map((r) => JSON.stringify(r)).join("\n")}\n`);
        }
        return files;
      },
    };
  },

  trainJob({ run, cfg, plan, files }, resume): LmGrpoJob {
    const t = cfg.train;
    const lmCfg = cfg.lm!;
    const { reward: _r, ...grpo } = lmCfg.grpo!;
    return {
      kind: "lm.grpo",
      protocol_version: PROTOCOL_VERSION,
      run_dir: run.run_dir,
      model: { path: cfg.model.dir, adapter: null, architecture: "causal", head: "lm", dtype: lmCfg.base_weights, pad_token_id: plan.pad_token_id },
      adapter: lmCfg.adapter,
      data: { train: files.shards.train!, validation: files.shards.validation },
      optim: optimSpec(cfg, plan),
      freeze: t.freeze,
      grpo,
      stop_token_ids: plan.stop_token_ids,
      eval_every: plan.eval_every_steps,
      runtime: { ...runtimeSpec(cfg), gradient_checkpointing: t.gradient_checkpointing ?? false, optimizer_offload: t.optimizer_offload ?? false },
      resume_from: resume.resumeFrom,
      eval_first: resume.evalFirst,
    };
  },

  async respond(c: RunContext<GrpoPlan, GrpoFiles>, ev: EventOf<"completions">) {
    const { store, run, cfg, plan, files, paths } = c;
    const rows = readRows(files.rows[ev.split]!);
    const tokens = readU32(ev.tokens);
    const offsets = readU32(ev.offsets);
    const prompts = readU32(ev.prompts);
    const encoder = encoderOf(cfg, paths.model);
    const stop = new Set(plan.stop_token_ids);
    const inputs = [];
    for (let i = 0; i < ev.count; i++) {
      const ids = Array.from(tokens.subarray(offsets[i]!, offsets[i + 1]!)).filter((t) => !stop.has(t));
      const row = rows[prompts[i]!]!;
      inputs.push({ prompt: row.prompt, completion: await encoder.decode(ids), example: row.fields, origin: row.origin });
    }
    const values = await rewardsOf(cfg, store, inputs, join(run.run_dir, "grpo", ev.split, stepName(ev.step), "scored"));
    // Advantages as the engine computes them (for the log: which answers were pushed up or down).
    const scored: Scored[] = inputs.map((x, i) => ({ prompt: x.prompt, completion: x.completion, reward: values[i]!, origin: x.origin }));
    if (ev.split === "train") {
      for (let g = 0; g < ev.count; g += ev.group_size) {
        const group = values.slice(g, g + ev.group_size);
        for (let k = 0; k < group.length; k++) {
          const centred = group[k]! - mean(group);
          scored[g + k]!.advantage = cfg.lm!.grpo!.scale_rewards ? centred / (std(group) + 1e-4) : centred;
        }
      }
      const lengths = Array.from({ length: ev.count }, (_, i) => offsets[i + 1]! - offsets[i]!);
      store.logMetrics(run.id, ev.step, "train", { reward: mean(values), reward_std: std(values), completion_tokens: mean(lengths) });
    }
    const dir = join(run.run_dir, "grpo", ev.split, stepName(ev.step));
    writeFileAtomic(join(dir, "samples.jsonl"), `${scored.map((s) => JSON.stringify(s)).join("\n")}\n`);
    return { type: "rewards" as const, step: ev.step, values };
  },

  judge({ run, files }, ev) {
    const scored = readScored(join(run.run_dir, "grpo", "validation", stepName(ev.step), "samples.jsonl"));
    const m = grpoMetrics(scored, readRows(files.rows.validation!));
    return { value: m.reward!, values: task.scalars(m) };
  },

  trainSeries: (ev) => ({ loss: ev.loss, lr: ev.lr, grad_norm: ev.grad_norm, tokens_per_s: ev.tokens_per_s }),

  async finalise(c, bestStep, evaluateTest) {
    const { run, cfg, plan, files, paths, update } = c;
    await installModel(c as unknown as RunContext<LmPlan, unknown>, bestStep);
    const best = readScored(join(run.run_dir, "grpo", "validation", stepName(bestStep), "samples.jsonl"));
    const validation = best.length > 0 && files.rows.validation ? grpoMetrics(best, readRows(files.rows.validation)) : null;
    if (!evaluateTest || !files.rows.test) return { validation, test: null };
    update({ kind: "phase", text: `answering and rewarding the ${plan.counts.test} test prompts` });
    const rows = readRows(files.rows.test);
    const test = await answerAndReward(
      c.store,
      cfg,
      plan,
      paths.model,
      rows,
      join(run.run_dir, "predictions", "test"),
      join(paths.report, "samples.test.jsonl"),
    );
    // The same prompts answered by the model training started from: what RL changed.
    update({ kind: "phase", text: "answering them with the starting model" });
    const start = await answerAndReward(
      c.store,
      cfg,
      plan,
      paths.model,
      rows,
      join(run.run_dir, "predictions", "test-start"),
      join(paths.report, "samples.test-start.jsonl"),
      true,
    );
    return { validation, test: { ...test, start_reward: start.reward, ...(start.exact_match !== undefined ? { start_exact_match: start.exact_match } : {}) } };
  },

  scalars: (m) => Object.fromEntries(Object.entries(m).filter(([k, v]) => typeof v === "number" && k !== "count")) as Record<string, number>,

  async evaluate(store, run, opts) {
    const { cfg, plan, modelDir } = finishedLmRun(run, storedConfig(run.id, run.config));
    if (!opts.data) {
      const file = join(runPaths(run.run_dir).report, "metrics.test.json");
      if (!existsSync(file))
        throw new HoneError("usage", `run ${run.id} has no test split`, [
          { message: "its data had no test prompts", hint: "evaluate on a file: hone eval RUN --data prompts.jsonl" },
        ]);
      return { metrics: JSON.parse(readFileSync(file, "utf8")) as LmMetrics, source: "test split (evaluated once, after training)" };
    }
    const rows = readPromptSource({ path: opts.data, format: "auto" });
    const out = join(run.run_dir, "predictions", `eval-${Date.now().toString(36)}`);
    const metrics = await answerAndReward(store, cfg, plan as unknown as GrpoPlan, modelDir, rows, out, join(out, "samples.jsonl"));
    return { metrics, source: opts.data };
  },

  renderMetrics: (m) =>
    table(
      ["metric", "value"],
      [
        ["mean reward (greedy answers)", num(m.reward!)],
        ...(m.start_reward !== undefined ? [["mean reward of the starting model", num(m.start_reward)]] : []),
        ["reward std", num(m.reward_std!)],
        ...(m.exact_match !== undefined ? [["exact match (answer field)", pct(m.exact_match)]] : []),
        ...(m.start_exact_match !== undefined ? [["exact match of the starting model", pct(m.start_exact_match)]] : []),
        ["prompts", m.count],
      ],
    ),
  headline: (t) => (t && typeof t.reward === "number" ? `reward ${(t.reward as number).toFixed(3)}` : ""),
  curveMetric: () => "reward",
  modelBytes: lmModelBytes,
  async inspect(cfg) {
    const counts = Object.fromEntries(
      SPLITS.map((s) => {
        const src = cfg.data[s];
        return [s, src ? readPromptSource({ path: src.path, format: rowFormat(src), pointer: src.pointer ?? undefined }).length : 0];
      }),
    );
    const report = { task: "grpo", prompts: counts, reward: cfg.lm!.grpo!.reward, group_size: cfg.lm!.grpo!.group_size };
    return { report, text: `grpo: prompts ${JSON.stringify(counts)}; reward ${report.reward}; ${report.group_size} answers per prompt per step` };
  },

  samples(run: RunRecord) {
    const dir = join(run.run_dir, "grpo", "train");
    const steps = existsSync(dir) ? readdirSync(dir).sort() : [];
    if (steps.length === 0) return null;
    const scored = readScored(join(dir, steps.at(-1)!, "samples.jsonl"));
    const short = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s).replace(/\s+/g, " ");
    const said = (p: PromptRow["prompt"]) => (typeof p === "string" ? p : (p.at(-1)?.content ?? ""));
    return `answers of the last training step (${steps.at(-1)}; all in grpo/train/<step>/samples.jsonl):\n${table(
      ["reward", "advantage", "prompt", "answer"],
      scored.slice(0, 8).map((s) => [num(s.reward), num(s.advantage ?? 0), short(said(s.prompt)), short(s.completion)]),
    )}`;
  },
};

export default task;
