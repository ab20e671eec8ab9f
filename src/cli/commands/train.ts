// `hone train`: fine-tune a model; prints the test metrics at the end.
import { Option, type Command } from "commander";
import { renderAugment } from "../../augment/augment.js";
import { launch } from "../../run/lifecycle.js";
import { renderEstimate } from "../../run/resources.js";
import { TASKS } from "../../tasks/registry.js";
import { HoneError } from "../../util/errors.js";
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
    .option("--nodes <n>", "machines that train together (sft, dpo, reward); the same command on each")
    .option("--node-rank <k>", "this machine's rank: 0 on the head, which keeps the run; 1, 2, ... on the others")
    .option("--endpoint <host:port>", "the rendezvous, the head's address as every node reaches it")
    .option("--json", "JSON lines on stdout instead of a progress bar")
    .option("--dry-run", "check the config and data, print the plan and the memory estimate, train nothing")
    .addHelpText(
      "after",
      `
Examples:
  hone train examples/support/hone.yaml
  hone train --data train.jsonl --model all-minilm-l6-v2 --epochs 3
  hone train hone.yaml --set train.lr=5e-5 --set train.freeze.layers=2
  hone train --resume last
  hone train sft.yaml --nodes 2 --node-rank 0 --endpoint 10.0.0.1:29500   (then --node-rank 1 on the other)`,
    )
    .action(async (config: string | undefined, o: Record<string, unknown>) => {
      if (o.resume && o.dryRun)
        throw new HoneError("usage", "--dry-run plans a new run", [{ message: "a resumed run has its plan", hint: "hone runs show <run>" }]);
      if (o.resume && (o.nodes !== undefined || o.nodeRank !== undefined))
        throw new HoneError("usage", "a resumed run keeps its nodes", [
          {
            message: "--nodes and --node-rank come from the run's config",
            hint: "on the head: hone train --resume <run> [--endpoint host:port]; the other nodes: their first command again",
          },
        ]);
      const reporter = progressReporter(Boolean(o.json));
      try {
        const result = await withInterrupt("finishing the current step and saving a checkpoint", (signal) =>
          launch({
            config: config ?? null,
            set: [...(o.set as string[]), ...(o.resume ? [] : nodeFlags(o))],
            base: shorthands(o),
            store: program.opts().store,
            resume: o.resume as string | undefined,
            endpoint: o.resume ? (o.endpoint as string | undefined) : undefined,
            dryRun: Boolean(o.dryRun),
            onUpdate: reporter.onUpdate,
            signal,
          }),
        );
        reporter.stop();
        if ("dryRun" in result) {
          const { cfg, plan } = result;
          if (o.json) out(JSON.stringify({ kind: "plan", task: cfg.task, model: cfg.model.ref, device: cfg.train.device, plan }));
          else {
            const c = plan.counts;
            out(`\ndry run: task ${cfg.task}, ${cfg.model.ref} on ${cfg.train.device} (${cfg.train.precision}); nothing trained, no run made`);
            out(`data: ${c.train} train, ${c.validation} validation, ${c.test} test examples`);
            out(`plan: ${plan.total_steps} steps (${plan.steps_per_epoch} an epoch), an evaluation every ${plan.eval_every_steps}`);
            if (plan.memory_estimate) out(renderEstimate(plan.memory_estimate, cfg.train.device));
          }
          return;
        }
        if ("node" in result) {
          if (o.json) out(JSON.stringify({ kind: "node", ...result }));
          else
            out(
              result.reason === "interrupted"
                ? `\nnode ${result.node} of ${result.nodes}: the job stopped at step ${result.step}; resume the run on the head and start this node again`
                : `\nnode ${result.node} of ${result.nodes}: ${result.reason} at step ${result.step}; the run and its report are on the head (${result.endpoint})`,
            );
          return;
        }
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

/** The node flags override a config file (which every machine shares): they go last, as --set. */
function nodeFlags(o: Record<string, unknown>): string[] {
  const set: string[] = [];
  if (o.nodes !== undefined) set.push(`train.nodes.count=${Number(o.nodes)}`);
  if (o.nodeRank !== undefined) set.push(`train.nodes.rank=${Number(o.nodeRank)}`);
  if (o.endpoint !== undefined) set.push(`train.nodes.endpoint=${JSON.stringify(String(o.endpoint))}`);
  return set;
}
