// `hone train`: fine-tune a model; prints the test metrics at the end.
import { Option, type Command } from "commander";
import { renderAugment } from "../../augment/augment.js";
import { train } from "../../run/lifecycle.js";
import { TASKS } from "../../tasks/registry.js";
import { withInterrupt } from "../interrupt.js";
import { progressReporter } from "../progress.js";
import { collect, metricsTable, out, shorthands } from "../shared.js";

export function registerTrain(program: Command): void {
  program
    .command("train")
    .description("Fine-tune a classifier or a generative model (sft, dpo); prints test metrics at the end")
    .argument("[config]", "hone.yaml / hone.json")
    .option("--data <file>", "training data (JSONL, CSV, TSV or JSON)")
    .option("--validation <file>", "validation data (default: split off train)")
    .option("--test <file>", "test data (default: split off train)")
    .option("--model <name|dir>", "model name (see hone models) or local directory")
    .addOption(new Option("--task <task>", "task").choices(Object.keys(TASKS)))
    .option("--text-column <name>", "field holding the text")
    .option("--label-column <name>", "field holding the label")
    .option("--multi-label", "several labels per example")
    .option("--name <name>", "a name for the run")
    .option("--epochs <n>", "epochs")
    .option("--lr <x>", "learning rate")
    .option("--max-steps <n>", "stop after N optimizer steps")
    .option("--seed <n>", "random seed")
    .option("--init-from <run>", "start from another run's weights")
    .option("--set <key=value>", "override any setting, e.g. train.batch_size=16 (repeatable)", collect, [])
    .option("--resume <run>", "continue an interrupted run (id, name or 'last')")
    .option("--json", "JSON lines on stdout instead of a progress bar")
    .addHelpText(
      "after",
      `
Examples:
  hone train examples/support/hone.yaml
  hone train --data train.jsonl --model all-minilm-l6-v2 --epochs 3
  hone train hone.yaml --set train.lr=5e-5 --set train.freeze.layers=2
  hone train --resume last`,
    )
    .action(async (config: string | undefined, o: Record<string, unknown>) => {
      const reporter = progressReporter(Boolean(o.json));
      try {
        const result = await withInterrupt("finishing the current step and saving a checkpoint", (signal) =>
          train({
            config: config ?? null,
            set: o.set as string[],
            base: shorthands(o),
            store: program.opts().store,
            resume: o.resume as string | undefined,
            onUpdate: reporter.onUpdate,
            signal,
          }),
        );
        reporter.stop();
        if (o.json)
          out(
            JSON.stringify({
              kind: "result",
              run: result.run.id,
              best_step: result.bestStep,
              test: result.test,
              validation: result.validation,
              ...(result.augment ? { augment: result.augment } : {}),
            }),
          );
        else {
          if (result.augment) out(`\n${renderAugment(result.augment)}`);
          out(`\nrun ${result.run.id} — best checkpoint at step ${result.bestStep}`);
          if (result.test) out(`\ntest metrics (${result.test.count} examples, evaluated once):\n${metricsTable(result.run.task, result.test)}`);
          else if (result.validation) out(`\nvalidation metrics (no test split):\n${metricsTable(result.run.task, result.validation)}`);
          out(`\nreport: ${result.run.run_dir}/report`);
        }
      } finally {
        reporter.stop();
      }
    });
}
