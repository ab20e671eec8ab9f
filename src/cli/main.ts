// The `hone` command line: one module per command group (src/cli/commands/), each a thin layer
// over the SDK; errors are formatted once, here.
import { Command } from "commander";
import { HoneError, formatError } from "../util/errors.js";
import { registerData } from "./commands/data.js";
import { registerDeploy } from "./commands/deploy.js";
import { registerRuns } from "./commands/runs.js";
import { registerSystem } from "./commands/system.js";
import { registerTrain } from "./commands/train.js";
import { registerTune } from "./commands/tune.js";
import { registerUse } from "./commands/use.js";

export function buildCli(): Command {
  const program = new Command("hone")
    .description("Fine-tune pretrained language models into domain experts.")
    .version("0.1.0")
    .option("--store <dir>", "run store directory (default: ./.hone or $HONE_STORE)")
    .showHelpAfterError("(run with --help for usage)")
    // Before the commands are added, so that each inherits it: main() maps what commander refuses to exit 2.
    .exitOverride();
  registerTrain(program);
  registerUse(program);
  registerDeploy(program);
  registerRuns(program);
  registerData(program);
  registerSystem(program);
  registerTune(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof HoneError) {
      process.stderr.write(`${formatError(err)}\n`);
      return err.exitCode;
    }
    const e = err as { code?: string; exitCode?: number };
    // Help and version end well; every other word commander refuses is a usage error: exit 2.
    if (typeof e.code === "string" && e.code.startsWith("commander.")) return e.exitCode === 0 ? 0 : 2;
    throw err;
  }
}
