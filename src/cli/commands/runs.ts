// `hone runs`: list, show and compare runs.
import type { Command } from "commander";
import { renderResources, resourcesOf } from "../../run/resources.js";
import type { PlanBase } from "../../run/types.js";
import { RunStore, storeDir } from "../../store/store.js";
import { taskPlugin } from "../../tasks/registry.js";
import { num, pct, table } from "../../util/table.js";
import { json, out } from "../shared.js";

/** Three subcommands, each a screenful (long only as their sum). */
export function registerRuns(program: Command): void {
  const runs = program.command("runs").description("List, show and compare runs");
  runs
    .command("list", { isDefault: true })
    .description("List runs, newest first")
    .option("--json", "print JSON")
    .action((o: { json?: boolean }) => {
      const store = new RunStore(storeDir(program.opts().store));
      try {
        const list = store.listRuns();
        if (o.json) return json(list.map(({ config, plan, ...r }) => r));
        if (list.length === 0) return out(`no runs in ${store.dir}`);
        out(
          table(
            ["run", "name", "status", "model", "best step", "test score", "created"],
            list.map((r) => {
              const cfg = r.config as { model?: { ref?: string } };
              const score = taskPlugin(r.task).headline(r.test_metrics) || "-";
              return [r.id, r.name ?? "", r.status, cfg.model?.ref ?? "", r.best_step ?? "", score, r.created_at.slice(0, 19).replace("T", " ")];
            }),
            ["l", "l", "l", "l", "r", "r", "l"],
          ),
        );
      } finally {
        store.close();
      }
    });
  runs
    .command("show")
    .argument("<run>", "run id, name or 'last'")
    .option("--json", "print JSON")
    .description("Show a run: config, metrics, artifacts, lineage")
    .action((ref: string, o: { json?: boolean }) => {
      const store = new RunStore(storeDir(program.opts().store));
      try {
        const r = store.findRun(ref);
        const artifacts = store.artifacts(r.id);
        const lineage = store.lineage(r.id);
        if (o.json) return json({ ...r, artifacts, lineage, metrics: store.metrics(r.id) });
        const val = store.metrics(r.id, "validation");
        const steps = [...new Set(val.map((p) => p.step))];
        out(`run ${r.id}${r.name ? ` (${r.name})` : ""} — ${r.status}\ndirectory: ${r.run_dir}\ndata sha256: ${r.data_hash ?? "-"}`);
        if (lineage.length) out(`lineage: ${lineage.map((l) => `${l.relation} ${l.parent_id}`).join(", ")}`);
        if (r.error) out(`error: ${r.error}`);
        if (steps.length) {
          const get = (s: number, n: string) => val.find((p) => p.step === s && p.name === n)?.value;
          out(
            "\nvalidation:\n" +
              table(
                ["step", "loss", "accuracy", "macro F1", "micro F1"],
                steps.map((s) => [
                  s + (s === r.best_step ? " *" : ""),
                  num(get(s, "loss")),
                  pct(get(s, "accuracy") ?? get(s, "subset_accuracy")),
                  pct(get(s, "macro_f1")),
                  pct(get(s, "micro_f1")),
                ]),
              ),
          );
        }
        const resources = resourcesOf(store.metrics(r.id, "train"), (r.plan as PlanBase | null)?.memory_estimate ?? null);
        if (resources) out(`\ntraining: ${renderResources(resources)}`);
        if (r.test_metrics)
          out(
            "\ntest:\n" +
              table(
                ["metric", "value"],
                Object.entries(r.test_metrics).map(([k, v]) => [k, num(v as number)]),
              ),
          );
        out(
          "\nartifacts:\n" +
            table(
              ["kind", "path", "bytes", "sha256"],
              artifacts.map((a) => [a.kind, a.path.replace(`${r.run_dir}/`, ""), a.bytes, a.sha256.slice(0, 12)]),
              ["l", "l", "r", "l"],
            ),
        );
        const samples = taskPlugin(r.task).samples?.(r);
        if (samples) out(`\n${samples}`);
      } finally {
        store.close();
      }
    });
  runs
    .command("compare")
    .argument("<runs...>", "two or more runs")
    .description("Compare runs side by side: settings that differ and test metrics")
    .action((refs: string[]) => {
      const store = new RunStore(storeDir(program.opts().store));
      try {
        const list = refs.map((ref) => store.findRun(ref));
        const flat = (o: unknown, prefix = ""): Record<string, string> => {
          const res: Record<string, string> = {};
          if (o && typeof o === "object" && !Array.isArray(o))
            for (const [k, v] of Object.entries(o)) Object.assign(res, flat(v, prefix ? `${prefix}.${k}` : k));
          else res[prefix] = JSON.stringify(o);
          return res;
        };
        const flats = list.map((r) => flat(r.config));
        const keys = [...new Set(flats.flatMap((f) => Object.keys(f)))].filter((k) => new Set(flats.map((f) => f[k])).size > 1);
        // Whatever the runs' task measured (accuracy, entity F1, exact match, loss...).
        const metricKeys = [
          ...new Set(list.flatMap((r) => Object.entries(r.test_metrics ?? {}).flatMap(([k, v]) => (typeof v === "number" && k !== "count" ? [k] : [])))),
        ];
        const rows = [
          ...keys.map((k) => [k, ...flats.map((f) => f[k] ?? "-")]),
          ...metricKeys.map((k) => [`test ${k}`, ...list.map((r) => num((r.test_metrics as Record<string, number> | null)?.[k]))]),
        ];
        out(table(["", ...list.map((r) => r.name ?? r.id)], rows, ["l", ...list.map(() => "r" as const)]));
      } finally {
        store.close();
      }
    });
}
