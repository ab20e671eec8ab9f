// `hone data inspect`: the data doctor, as the config's task reads its data.
import type { Command } from "commander";
import { loadConfig } from "../../config/load.js";
import { resolveConfig, taskPlugin } from "../../tasks/registry.js";
import { collect, json, out, shorthands } from "../shared.js";

export function registerData(program: Command): void {
  const data = program.command("data").description("Work with datasets");
  data
    .command("inspect")
    .description("The data doctor: sizes, labels, duplicates, leakage, token lengths and truncation")
    .argument("[config]", "hone.yaml (or use --data)")
    .option("--data <file>", "training data")
    .option("--validation <file>", "validation data")
    .option("--test <file>", "test data")
    .option("--model <name|dir>", "tokenizer to measure lengths with")
    .option("--text-column <name>", "field holding the text")
    .option("--label-column <name>", "field holding the label")
    .option("--multi-label", "several labels per example")
    .option("--set <key=value>", "override a setting", collect, [])
    .option("--json", "print JSON")
    .action(async (config: string | undefined, o: Record<string, unknown>) => {
      const loaded = loadConfig(config ?? null, o.set as string[], shorthands(o));
      const cfg = resolveConfig(loaded, { type: "probe", torch: "", transformers: "", cuda: false, bf16: false, devices: [], cpu_threads: 1 });
      const r = await taskPlugin(cfg.task).inspect(cfg);
      if (o.json) return json(r.report);
      out(r.text);
    });
}
