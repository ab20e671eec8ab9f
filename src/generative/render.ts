// Generative runs' metrics and the data doctor's report, as text for people.
import { num, pct, table } from "../util/table.js";
import type { LmInspectReport } from "./inspect.js";
import type { LmMetrics } from "./metrics.js";

export { inspectLmData } from "./inspect.js";

export function renderLmMetrics(m: LmMetrics): string {
  const rows: (string | number)[][] = [];
  if (m.reward_accuracy !== undefined) {
    rows.push(
      ["reward accuracy (chosen > rejected)", pct(m.reward_accuracy!)],
      ["reward margin", num(m.reward_margin!)],
      ["chosen / rejected reward", `${num(m.chosen_reward!)} / ${num(m.rejected_reward!)}`],
      ["DPO loss", num(m.loss)],
      ["pairs", m.count],
    );
  } else rows.push(["loss (per learnt token)", num(m.loss)], ["perplexity", num(m.perplexity!)], ["learnt tokens", m.tokens!], ["examples", m.count]);
  if (m.generated) {
    rows.push(["exact match (generated)", `${pct(m.exact_match!)} of ${m.generated}`]);
    if (m.label_accuracy !== undefined) rows.push(["label accuracy (generated)", pct(m.label_accuracy)]);
  }
  return table(["metric", "value"], rows);
}

/** `hone data inspect` of generative data: format, template, token lengths, packing, a preview. */
export function renderLmInspect(g: LmInspectReport): string {
  const lines: string[] = [];
  const out = (s: string) => lines.push(s);
  for (const w of g.warnings) out(`! ${w}`);
  out(`${g.task}: ${g.format} data; chat template: ${g.template ?? "none (plain text)"}\n`);
  out(
    table(
      ["split", "examples", "from"],
      Object.entries(g.splits).map(([k, v]) => [k, v.count, v.origin]),
      ["l", "r", "l"],
    ),
  );
  out(`\ntokens per sequence (after truncation to ${g.max_length}; ${g.truncated} truncated, ${g.dropped} dropped):`);
  out(
    table(
      ["split", "p50", "p90", "p99", "max", "learnt tokens"],
      Object.entries(g.tokens).map(([k, s]) => [k, s.p50, s.p90, s.p99, s.max, pct(s.learnt_share)]),
    ),
  );
  if (g.packing) {
    const p = g.packing;
    out(
      `\npacking: ${p.examples_per_row.toFixed(1)} examples per row of ${g.max_length} tokens; padding is ${pct(1 - p.tokens / p.unpacked_slots)} of the slots computed per epoch without packing, ${pct(1 - p.tokens / p.packed_slots)} with it (${pct(p.padding_saved)} fewer slots)`,
    );
  }
  out(`\nthe first training example as the model sees it (learnt tokens between ⟦ ⟧):\n${g.preview}`);
  return lines.join("\n");
}
