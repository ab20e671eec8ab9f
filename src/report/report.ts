// A run's report folder: metrics as JSON, loss/metric curves and confusion matrix as SVG + PNG.
import { join } from "node:path";
import type { Metrics } from "../metrics/classification.js";
import { runPaths } from "../run/artifacts.js";
import type { RunStore } from "../store/store.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/fs.js";
import { confusionChart, lineChart, svgToPng, type Series } from "./plots.js";

async function writeFigure(store: RunStore, runId: string, dir: string, name: string, svg: string): Promise<void> {
  writeFileAtomic(join(dir, `${name}.svg`), svg);
  writeFileAtomic(join(dir, `${name}.png`), svgToPng(svg));
  await store.addArtifact(runId, "report", join(dir, `${name}.svg`));
  await store.addArtifact(runId, "report", join(dir, `${name}.png`));
}

export async function writeReports(store: RunStore, runId: string, metrics: { validation: Metrics | null; test: Metrics | null }): Promise<string> {
  const run = store.getRun(runId);
  const dir = runPaths(run.run_dir).report;
  for (const [split, m] of Object.entries(metrics)) {
    if (!m) continue;
    writeJsonAtomic(join(dir, `metrics.${split}.json`), m);
    await store.addArtifact(runId, "report", join(dir, `metrics.${split}.json`));
  }

  const points = store.metrics(runId);
  const pick = (split: string, name: string): [number, number][] =>
    points.filter((p) => p.split === split && p.name === name && p.value !== null).map((p) => [p.step, p.value]);
  const val = metrics.validation ?? metrics.test;
  const score = val?.kind === "multi_label" ? "micro_f1" : "accuracy";
  const series: Series[] = [
    { name: "train loss", points: pick("train", "loss"), color: "#2166ac" },
    { name: "validation loss", points: pick("validation", "loss"), color: "#d6604d" },
    { name: `validation ${score} (right)`, points: pick("validation", score), color: "#1b7837", right: true },
  ];
  await writeFigure(store, runId, dir, "curves", lineChart(`Training curves — ${run.name ?? run.id}`, "optimizer step", series, ["loss", score]));

  const cm = metrics.test ?? metrics.validation;
  if (cm && cm.kind === "single_label") {
    const which = metrics.test ? "test" : "validation";
    await writeFigure(store, runId, dir, "confusion", confusionChart(`Confusion matrix (${which}, accuracy ${(cm.accuracy * 100).toFixed(2)}%)`, cm.labels, cm.confusion));
  }
  return dir;
}
