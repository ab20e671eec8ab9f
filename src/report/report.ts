// A run's report folder: metrics as JSON, loss/metric curves and confusion matrix as SVG + PNG.
import { join } from "node:path";
import type { HierarchyMetrics } from "../hierarchy/metrics.js";
import { runPaths } from "../run/artifacts.js";
import { resourcesOf } from "../run/resources.js";
import type { PlanBase, TaskMetrics } from "../run/types.js";
import type { RunStore } from "../store/store.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/fs.js";
import { confusionChart, icicleChart, lineChart, svgToPng, type Series, type TreeCell } from "./plots.js";

async function writeFigure(store: RunStore, runId: string, dir: string, name: string, svg: string): Promise<void> {
  writeFileAtomic(join(dir, `${name}.svg`), svg);
  writeFileAtomic(join(dir, `${name}.png`), svgToPng(svg));
  await store.addArtifact(runId, "report", join(dir, `${name}.svg`));
  await store.addArtifact(runId, "report", join(dir, `${name}.png`));
}

/** `score`: the validation metric drawn beside the losses (the task's choice). */
export async function writeReports(
  store: RunStore,
  runId: string,
  metrics: { validation: TaskMetrics | null; test: TaskMetrics | null },
  score: string,
): Promise<string> {
  const run = store.getRun(runId);
  const dir = runPaths(run.run_dir).report;
  for (const [split, m] of Object.entries(metrics)) {
    if (!m) continue;
    writeJsonAtomic(join(dir, `metrics.${split}.json`), m);
    await store.addArtifact(runId, "report", join(dir, `metrics.${split}.json`));
  }

  const points = store.metrics(runId);
  // Peak memory and throughput (src/run/resources.ts), whatever the task.
  const resources = resourcesOf(points, (run.plan as PlanBase | null)?.memory_estimate ?? null);
  if (resources) {
    writeJsonAtomic(join(dir, "resources.json"), resources);
    await store.addArtifact(runId, "report", join(dir, "resources.json"));
  }
  const pick = (split: string, name: string): [number, number][] =>
    points.filter((p) => p.split === split && p.name === name && p.value !== null).map((p) => [p.step, p.value]);
  const series: Series[] = [
    { name: "train loss", points: pick("train", "loss"), color: "#2166ac" },
    { name: "validation loss", points: pick("validation", "loss"), color: "#d6604d" },
    { name: `validation ${score} (right)`, points: pick("validation", score), color: "#1b7837", right: true },
  ];
  await writeFigure(store, runId, dir, "curves", lineChart(`Training curves — ${run.name ?? run.id}`, "optimizer step", series, ["loss", score]));

  const cm = metrics.test ?? metrics.validation;
  if (cm && cm.kind === "hierarchical") {
    const which = metrics.test ? "test" : "validation";
    writeFileAtomic(join(dir, `nodes.${which}.csv`), nodeTable(cm));
    await store.addArtifact(runId, "report", join(dir, `nodes.${which}.csv`));
    await writeFigure(
      store,
      runId,
      dir,
      "tree",
      icicleChart(
        `Where the hierarchy errs (${which}, exact path ${(cm.accuracy * 100).toFixed(2)}%): width = examples, colour = F1`,
        treeCells(cm),
        "node F1",
      ),
    );
  }
  if (cm && cm.kind === "single_label") {
    const which = metrics.test ? "test" : "validation";
    await writeFigure(
      store,
      runId,
      dir,
      "confusion",
      confusionChart(`Confusion matrix (${which}, accuracy ${(cm.accuracy * 100).toFixed(2)}%)`, cm.labels, cm.confusion),
    );
  }
  return dir;
}

/** Per-node scores as CSV, worst first within each level. */
function nodeTable(m: HierarchyMetrics): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const rows = m.per_node.filter((n) => n.support > 0 || n.predicted > 0).sort((a, b) => a.depth - b.depth || a.f1 - b.f1);
  return `${[
    "node,depth,support,predicted,precision,recall,f1",
    ...rows.map((n) => [q(n.label), n.depth, n.support, n.predicted, n.precision.toFixed(4), n.recall.toFixed(4), n.f1.toFixed(4)].join(",")),
  ].join("\n")}\n`;
}

function treeCells(m: HierarchyMetrics): TreeCell[] {
  return m.per_node.map((n) => ({
    name: n.name,
    parent: n.parent,
    depth: n.depth,
    weight: n.support,
    value: n.f1,
    tooltip: `${n.label}: F1 ${(n.f1 * 100).toFixed(1)}%, ${n.support} examples, precision ${(n.precision * 100).toFixed(1)}%, recall ${(n.recall * 100).toFixed(1)}%`,
  }));
}
