// A machine other than the head in a job over several machines (train.nodes). It reads and checks
// the same config and data as the head, writes the same shards into a scratch folder of its own,
// and runs its processes of the head's job; it makes no run. The head (node rank 0) keeps the
// run: store, checkpoints, evaluations, report. The engine checks that every node's job is the
// same, and hands the head's checkpoint to the others when a run resumes (checkpoint.from_head).
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedConfig } from "../config/resolve.js";
import { engineFailure, startEngine, untilExit } from "../engine/process.js";
import type { RunRecord, RunStore } from "../store/store.js";
import { HoneError } from "../util/errors.js";
import { runPaths } from "./artifacts.js";
import type { PlanBase, RunContext, Staged, TaskPlugin, TrainOptions, TrainUpdate } from "./types.js";

export interface NodeResult {
  /** This machine's node rank (1..nodes-1). */
  node: number;
  nodes: number;
  endpoint: string;
  /** Where the job ended, and why (completed, stopped early, interrupted: then resumable on the head). */
  step: number;
  reason: string;
}

export async function joinHead(
  store: RunStore,
  cfg: ResolvedConfig,
  task: TaskPlugin,
  staged: Staged<PlanBase, unknown>,
  opts: TrainOptions,
  update: (u: TrainUpdate) => void,
): Promise<NodeResult> {
  const n = cfg.train.nodes!;
  const endpoint = n.endpoint!;
  const dir = join(store.dir, "nodes", `${n.id}-node${n.rank}`);
  rmSync(dir, { recursive: true, force: true });
  try {
    const paths = runPaths(dir);
    const files = await staged.write(paths);
    const at = new Date().toISOString();
    // The job needs a run's folder; this node's is scratch, and its record is nowhere but here.
    const run: RunRecord = {
      id: `${n.id}-node${n.rank}`,
      name: null,
      task: cfg.task,
      status: "running",
      created_at: at,
      updated_at: at,
      run_dir: dir,
      config: cfg,
      plan: staged.plan,
      data_hash: staged.dataHash,
      best_step: null,
      best_value: null,
      test_metrics: null,
      error: null,
    };
    const ctx: RunContext = { store, run, cfg, plan: staged.plan, files, paths, update };
    const job = task.trainJob(ctx, { resumeFrom: null, evalFirst: false });
    update({ kind: "phase", text: `node ${n.rank} of ${n.count}: training with the head at ${endpoint} (its progress shows there)` });
    const result = await untilExit(startEngine(job, { env: opts.env, nodes: n }), opts.signal);
    // This node's first process tells how the job ended (done, or an error); the head's
    // orchestrator hears the rest (protocol.py).
    const events = result.events;
    const done = events.find((e) => e.type === "done");
    if (result.exitCode !== 0 || !done) {
      if (opts.signal?.aborted)
        throw new HoneError("interrupted", `node ${n.rank} left the job`, [
          { message: "the head's run is resumable from its last checkpoint", hint: "resume it on the head, and start this node again" },
        ]);
      throw engineFailure(result);
    }
    return { node: n.rank, nodes: n.count, endpoint, step: done.step, reason: done.reason };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
