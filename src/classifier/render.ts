// Classifier metrics and the data doctor's report, as tables for people.
import type { ResolvedConfig } from "../config/resolve.js";
import { inspectData } from "../data/inspect.js";
import { labelVariantWarnings } from "../data/quality.js";
import { num, pct, table } from "../util/table.js";
import type { RunMetrics } from "./evaluate.js";
import { fewShotOf, methodFor } from "./fewshot.js";

export function renderClassifierMetrics(m: RunMetrics, perClass = false): string {
  const rows: (string | number)[][] =
    m.kind === "hierarchical"
      ? [
          ["exact-path accuracy", pct(m.accuracy)],
          ...m.levels.flatMap((l) => [
            [`level ${l.depth} accuracy`, pct(l.accuracy)],
            [`level ${l.depth} macro F1`, pct(l.macro_f1)],
          ]),
          ["micro F1 (all nodes)", pct(m.micro_f1)],
          ["macro F1 (all nodes)", pct(m.macro_f1)],
          ["hierarchical P / R / F1", `${pct(m.hierarchical_precision)} / ${pct(m.hierarchical_recall)} / ${pct(m.hierarchical_f1)}`],
          ["consistent paths (decoded)", pct(m.consistency)],
          ["consistent paths (heads' own argmax)", pct(m.raw_consistency)],
          ["log loss (true path)", num(m.loss)],
          ...(m.with_thresholds
            ? [
                ["thresholds per level", m.with_thresholds.thresholds!.map((t) => num(t, 3)).join(" / ")],
                ["partial paths", pct(m.with_thresholds.partial_rate)],
                ["exact-path accuracy of full paths", pct(m.with_thresholds.full_path_accuracy)],
                ...m.with_thresholds.levels.map((l) => [`level ${l.depth} coverage / accuracy`, `${pct(l.coverage)} / ${pct(l.covered_accuracy)}`]),
              ]
            : []),
          ["examples", m.count],
        ]
      : m.kind === "single_label"
        ? [
            ["accuracy", pct(m.accuracy)],
            ["macro F1", pct(m.macro_f1)],
            ["micro F1", pct(m.micro_f1)],
            ["weighted F1", pct(m.weighted_f1)],
            ["macro precision", pct(m.macro_precision)],
            ["macro recall", pct(m.macro_recall)],
            ["ECE (calibration)", num(m.ece)],
            ["log loss", num(m.loss)],
            ["examples", m.count],
          ]
        : [
            ["micro F1", pct(m.micro_f1)],
            ["macro F1", pct(m.macro_f1)],
            ["weighted F1", pct(m.weighted_f1)],
            ["subset accuracy", pct(m.subset_accuracy)],
            ["hamming loss", num(m.hamming_loss)],
            ["threshold (tuned on validation)", num(m.threshold, 2)],
            ["examples", m.count],
          ];
  for (const [task, tm] of Object.entries(m.tasks ?? {})) {
    rows.push(
      tm.kind === "single_label"
        ? [`${task}: accuracy / macro F1`, `${pct(tm.accuracy)} / ${pct(tm.macro_f1)}`]
        : [`${task}: micro / macro F1`, `${pct(tm.micro_f1)} / ${pct(tm.macro_f1)}`],
    );
  }
  let text = table(["metric", "value"], rows);
  if (perClass) {
    const cls = m.kind === "hierarchical" ? m.per_node.filter((n) => n.support > 0 || n.predicted > 0) : m.per_class;
    text +=
      "\n\n" +
      table(
        ["label", "precision", "recall", "F1", "support"],
        cls
          .slice()
          .sort((a, b) => a.f1 - b.f1)
          .map((c) => [c.label, pct(c.precision), pct(c.recall), pct(c.f1), c.support]),
      );
  }
  return text;
}

/** `hone data inspect` of classifier data: splits, labels, token lengths, duplicates, leakage. */
export async function inspectClassifierData(cfg: ResolvedConfig): Promise<{ report: unknown; text: string }> {
  const r = await inspectData(cfg);
  const lines: string[] = [];
  const out = (s: string) => lines.push(s);
  out(
    table(
      ["split", "examples", "from"],
      Object.entries(r.splits).map(([k, v]) => [k, v.count, v.origin]),
      ["l", "r", "l"],
    ),
  );
  out(`\n${r.labels.length} labels${r.multi_label ? " (multi-label)" : ""}; largest/smallest class in train: ${r.imbalance.toFixed(1)}x`);
  const sorted = r.labels.slice().sort((a, b) => a.train - b.train);
  const shown = sorted.length > 12 ? [...sorted.slice(0, 6), ...sorted.slice(-6)] : sorted;
  out(
    table(
      ["label", "train", "validation", "test"],
      shown.map((l) => [l.label, l.train, l.validation, l.test]),
    ) + (sorted.length > 12 ? `\n(${sorted.length - 12} more labels; --json lists all)` : ""),
  );
  if (r.tokens) {
    out(`\ntoken lengths (special tokens included), max_length ${r.max_length}:`);
    out(
      table(
        ["split", "p50", "p90", "p95", "p99", "max", "truncated"],
        Object.entries(r.tokens).map(([k, s]) => [k, s.p50, s.p90, s.p95, s.p99, s.max, pct(s.truncated)]),
      ),
    );
  }
  const method = methodFor(
    fewShotOf(cfg),
    r.labels.map((l) => l.train),
  );
  out(`\nmethod: ${method.method} (${method.reason})`);
  const q = r.quality;
  out("\nchecks:");
  out(`  duplicates: ${q.duplicates.length === 0 ? "none" : q.duplicates.map((d) => `${d.count} in ${d.split}`).join(", ")}`);
  out(`  same text, different labels: ${q.conflicts.length === 0 ? "none" : q.conflicts.length}`);
  const spellings = labelVariantWarnings(q);
  out(`  label spellings: ${spellings.length === 0 ? "none that look alike" : ""}`);
  for (const w of spellings) out(`    ! ${w}`);
  for (const c of q.conflicts.slice(0, 5)) out(`    "${c.text.slice(0, 60)}": ${c.labels.map((l) => l.join("+")).join(" vs ")} (${c.origins.join(", ")})`);
  out(`  leakage: ${q.leakage.length === 0 ? "none" : q.leakage.map((l) => `${l.count} ${l.to} text(s) also in train (e.g. ${l.examples[0]})`).join("; ")}`);
  return { report: { ...r, method }, text: lines.join("\n") };
}
