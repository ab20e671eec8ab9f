// `hone tune`: hyperparameter search from the command line (a thin layer over src/tune).
import type { Command } from "commander";
import { storeDir } from "../../store/store.js";
import { openStorage, tune, type TuneUpdate } from "../../tune/study.js";
import { writeStudyReport } from "../../tune/results.js";
import { loadConfig } from "../../config/load.js";
import { join } from "node:path";
import type { TrialRow } from "../../tune/storage/types.js";
import { HoneError } from "../../util/errors.js";
import { duration, table } from "../../util/table.js";
import { withInterrupt } from "../interrupt.js";
import { collect, out } from "../shared.js";

const fmtValue = (v: number | null | undefined) => (v === null || v === undefined ? "-" : Math.abs(v) < 10 ? v.toFixed(4) : v.toFixed(1));
const fmtParam = (v: unknown) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(3)).toString() : String(v));

function reporter(json: boolean): (u: TuneUpdate) => void {
  if (json) return (u) => out(JSON.stringify(u));
  let total = 0;
  let done = 0;
  let started = Date.now();
  let doneAtStart = 0;
  return (u) => {
    const say = (s: string) => process.stderr.write(`${s}\n`);
    if (u.kind === "study") {
      ({ total, done } = u);
      doneAtStart = done;
      started = Date.now();
      say(
        `• study "${u.study.name}" (${u.study.definition.sampler}, ${u.study.definition.objectives.map((o) => `${o.direction} ${o.metric}`).join(", ")}) in ${u.storage}`,
      );
      say(`  ${done}/${total} trials done${u.requeued ? `, ${u.requeued} to continue` : ""}; ${u.parallel} at a time`);
    } else if (u.kind === "trial-start") {
      say(
        `  trial ${u.trial.number} ${u.resumed ? "resumes" : "starts"}${u.gpu !== null ? ` on GPU ${u.gpu}` : ""}: ${Object.entries(u.trial.params)
          .map(([k, v]) => `${k.split(".").at(-1)}=${fmtParam(v)}`)
          .join(" ")}`,
      );
    } else if (u.kind === "trial-eval") {
      if (u.pruned) say(`  trial ${u.number} pruned at epoch ${u.epoch.toFixed(2)} (${fmtValue(u.value)})`);
    } else if (u.kind === "trial-end") {
      if (u.trial.state === "waiting") {
        say(`  trial ${u.trial.number} failed, will be retried: ${u.trial.error}`);
        return;
      }
      done++;
      const rate = (Date.now() - started) / Math.max(1, done - doneAtStart);
      const eta = duration(((total - done) * rate) / 1000);
      const what =
        u.trial.state === "failed"
          ? `failed: ${u.trial.error}`
          : `${u.trial.state} ${u.trial.values?.map(fmtValue).join(" / ")} after ${(u.trial.epochs ?? 0).toFixed(2)} epochs`;
      say(`  [${done}/${total}, ETA ${eta}] trial ${u.trial.number} ${what}${u.best ? "  ★ best so far" : ""}`);
    } else if (u.kind === "warning") say(`! warning: ${u.text}`);
    else if (u.kind === "phase") say(`• ${u.text}`);
  };
}

function leaderboard(trials: TrialRow[], metrics: string[], params: string[], limit = 10): string {
  const rows = trials
    .slice(0, limit)
    .map((t) => [
      t.number,
      t.state,
      ...metrics.map((_, i) => fmtValue(t.values?.[i])),
      ...params.map((p) => (t.params[p] === undefined ? "-" : fmtParam(t.params[p]))),
      (t.epochs ?? 0).toFixed(2),
    ]);
  return table(["trial", "state", ...metrics, ...params.map((p) => p.split(".").at(-1)!), "epochs"], rows);
}

export function registerTune(program: Command): void {
  const cmd = program
    .command("tune")
    .description("Search hyperparameters (the config's tune section): samplers, pruning, parallel and resumable trials")
    .argument("[config]", "hone.yaml with a tune: section")
    .option("--set <key=value>", "override a setting for every trial (repeatable)", collect, [])
    .option("--study <name>", "study name (default: the config's name or file name); the same name resumes")
    .option("--trials <n>", "trial budget (overrides tune.trials)")
    .option("--parallel <n>", "trials at once (overrides tune.parallel)")
    .option("--timeout <seconds>", "no new trials after this many seconds")
    .option("--storage <url>", "postgres://user@host/db to share the study with workers on other machines")
    .option("--final", "retrain the best config and evaluate it on the test split once")
    .option("--heartbeat <seconds>", "heartbeat interval of running trials (PostgreSQL storage)", "10")
    .option("--stale-after <seconds>", "requeue a trial whose worker has been silent this long", "60")
    .option("--json", "updates as JSON lines")
    .addHelpText(
      "after",
      `
Examples:
  hone tune examples/support/tune.yaml
  hone tune hone.yaml --trials 40 --parallel 4 --final
  hone tune hone.yaml --storage postgres://me@db/hone      # then on other machines:
  hone tune worker --storage postgres://me@db/hone --study hone

Kill it at any time and run the same command again: finished trials are kept, running ones continue.`,
    )
    .action(async (config: string | undefined, o: Record<string, unknown>) => {
      if (!config)
        throw new HoneError("usage", "hone tune needs a config file with a tune: section", [{ message: "e.g. hone tune examples/support/tune.yaml" }]);
      await runTune(
        {
          config,
          set: o.set as string[],
          study: (o.study as string) ?? null,
          storage: (o.storage as string) ?? null,
          trials: o.trials ? Number(o.trials) : undefined,
          parallel: o.parallel ? Number(o.parallel) : undefined,
          timeout: o.timeout ? Number(o.timeout) : null,
          final: Boolean(o.final),
          json: Boolean(o.json),
          heartbeatMs: Number(o.heartbeat) * 1000,
          staleMs: Number(o.staleAfter) * 1000,
        },
        program,
      );
    });

  // The worker shares tune's options (--storage, --study, --parallel, --heartbeat, --stale-after).
  cmd
    .command("worker")
    .description("Join a study kept in PostgreSQL (--storage, --study) and run its trials until the budget is spent")
    .action(async () => {
      const o = cmd.opts() as Record<string, unknown>;
      if (!o.storage || !o.study)
        throw new HoneError("usage", "a worker needs --storage postgres://... and --study <name>", [
          { message: "e.g. hone tune worker --storage postgres://me@db/hone --study support" },
        ]);
      await runTune(
        {
          join: true,
          study: o.study as string,
          storage: o.storage as string,
          parallel: o.parallel ? Number(o.parallel) : 1,
          heartbeatMs: Number(o.heartbeat) * 1000,
          staleMs: Number(o.staleAfter) * 1000,
          json: Boolean(o.json),
        },
        program,
      );
    });

  cmd
    .command("list")
    .description("Studies in the store (or in --storage)")
    .action(async () => {
      const o = cmd.opts() as Record<string, unknown>;
      const storage = openStorage(o.storage as string | undefined, storeDir(program.opts().store));
      try {
        const rows = [];
        for (const s of await storage.listStudies()) {
          const trials = await storage.trials(s.id);
          const counts = (st: string) => trials.filter((t) => t.state === st).length;
          rows.push([
            s.name,
            s.definition.sampler,
            s.definition.objectives.map((o) => o.metric).join(", "),
            trials.length,
            counts("complete"),
            counts("pruned"),
            counts("failed"),
            counts("running") + counts("waiting"),
            s.createdAt.slice(0, 16),
          ]);
        }
        out(
          rows.length
            ? table(["study", "sampler", "metric", "trials", "complete", "pruned", "failed", "open", "created"], rows)
            : "no studies yet: hone tune <config>",
        );
      } finally {
        await storage.close();
      }
    });

  cmd
    .command("show")
    .description("Leaderboard, importance and files of a study (rewrites its report)")
    .argument("<study>", "study name")
    .option("--top <n>", "rows of the leaderboard", "10")
    .action(async (name: string, own: Record<string, unknown>) => {
      const o = { ...(cmd.opts() as Record<string, unknown>), ...own };
      const store = storeDir(program.opts().store);
      const storage = openStorage(o.storage as string | undefined, store);
      try {
        const study = await storage.openStudy(name, null);
        const trials = await storage.trials(study.id);
        const loaded = loadConfig(study.definition.config_file, study.definition.sets);
        const report = writeStudyReport({
          study,
          trials,
          objectives: study.definition.objectives,
          outDir: join(store, "studies", study.name),
          config: loaded,
          space: study.definition.space,
        });
        printReport(
          study.definition.objectives.map((x) => x.metric),
          study.definition.space.params.map((p) => p.name),
          trials,
          report,
          Number(o.top),
          study.definition.objectives,
        );
      } finally {
        await storage.close();
      }
    });
}

function printReport(
  metrics: string[],
  params: string[],
  trials: TrialRow[],
  report: ReturnType<typeof writeStudyReport>,
  top: number,
  objectives: { metric: string; direction: string }[],
) {
  const sign = (t: TrialRow) => (t.values ? (objectives[0]!.direction === "maximize" ? -t.values[0]! : t.values[0]!) : Infinity);
  const order = (t: TrialRow) => (t.state === "complete" ? 0 : t.state === "pruned" ? 1 : 2);
  const ranked = [...trials].sort((a, b) => order(a) - order(b) || sign(a) - sign(b) || a.number - b.number);
  out(
    `\ntrials: ${Object.entries(report.counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ")}; ${report.epochs.toFixed(1)} epochs trained in all\n`,
  );
  out(leaderboard(ranked, metrics, params, top));
  if (report.importance.length)
    out(
      `\nimportance (share of ${metrics[0]}'s variance explained by each parameter alone):\n${table(
        ["parameter", "importance"],
        report.importance.map((i) => [i.param, `${(i.importance * 100).toFixed(1)}%`]),
      )}`,
    );
  if (metrics.length > 1) out(`\nPareto front: trials ${report.pareto.map((t) => t.number).join(", ")}`);
  out(`\nfiles:\n${report.files.map((f) => `  ${f}`).join("\n")}`);
}

async function runTune(
  o: {
    config?: string;
    set?: string[];
    study: string | null;
    storage: string | null;
    trials?: number;
    parallel?: number;
    timeout?: number | null;
    final?: boolean;
    json: boolean;
    join?: boolean;
    heartbeatMs?: number;
    staleMs?: number;
  },
  program: Command,
): Promise<void> {
  const result = await withInterrupt("running trials save a checkpoint; run the same command again to continue", (signal) =>
    tune({ ...o, store: program.opts().store, onUpdate: reporter(o.json), signal }),
  );
  const def = result.study.definition;
  if (o.json)
    out(
      JSON.stringify({
        kind: "result",
        study: result.study.name,
        best: result.report.best,
        pareto: result.report.pareto.map((t) => t.number),
        importance: result.report.importance,
        final: result.final && { run: result.final.run.id, test: result.final.test },
      }),
    );
  else {
    printReport(
      def.objectives.map((x) => x.metric),
      def.space.params.map((p) => p.name),
      result.trials,
      result.report,
      10,
      def.objectives,
    );
    if (result.final)
      out(
        `\nfinal run ${result.final.run.id} (best config retrained), test ${def.objectives[0]!.metric}: ${result.final.test ? fmtValue((result.final.test as unknown as Record<string, number>)[def.objectives[0]!.metric]) : "-"}`,
      );
  }
}
