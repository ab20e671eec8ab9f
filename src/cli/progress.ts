// Training progress for people (a bar with ETA and throughput) or machines (--json: events as JSON lines).
import cliProgress from "cli-progress";
import type { TrainUpdate } from "../run/types.js";
import { memoryText } from "../run/resources.js";
import { duration } from "../util/table.js";

export function progressReporter(json: boolean): { onUpdate: (u: TrainUpdate) => void; stop: () => void } {
  if (json) {
    return {
      onUpdate: (u) => {
        const out = u.kind === "engine" ? u.event : u.kind === "run" ? { kind: "run", id: u.run.id, run_dir: u.run.run_dir, resumed_from: u.resumedFrom } : u;
        process.stdout.write(`${JSON.stringify(out)}\n`);
      },
      stop: () => {},
    };
  }
  const tty = Boolean(process.stderr.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let lastLogged = -1;
  let startStep = 0;
  const say = (line: string) => {
    if (bar) bar.stop();
    bar = null;
    process.stderr.write(`${line}\n`);
  };
  return {
    onUpdate: (u) => {
      if (u.kind === "phase") say(`• ${u.text}`);
      else if (u.kind === "warning") say(`! warning: ${u.text}`);
      else if (u.kind === "run") say(`• run ${u.run.id}${u.run.name ? ` (${u.run.name})` : ""}: ${u.run.run_dir}`);
      else if (u.kind === "eval")
        say(
          `  step ${u.step}: validation ${u.metric} ${u.metric === "loss" ? u.value.toFixed(4) : `${(u.value * 100).toFixed(2)}%`}${u.best ? " (best)" : ""}`,
        );
      else if (u.kind === "engine") {
        const ev = u.event;
        if (ev.type === "started") startStep = ev.start_step;
        if (ev.type === "started")
          say(`  ${(ev.trainable_parameters / 1e6).toFixed(1)}M trainable of ${(ev.parameters / 1e6).toFixed(1)}M parameters, ${ev.total_steps} steps`);
        if (ev.type === "log") say(`  engine: ${ev.message}`);
        if (ev.type !== "progress") return;
        const remaining = ((ev.total_steps - ev.step) * ev.elapsed_s) / Math.max(1, ev.step - startStep);
        const payload = {
          loss: ev.loss === null ? "nan" : ev.loss.toFixed(4),
          speed: ev.tokens_per_s > 0 ? `${Math.round(ev.tokens_per_s).toLocaleString("en-US")} tokens/s` : `${ev.samples_per_s.toFixed(1)} samples/s`,
          memory: memoryText(ev.memory),
          epoch: ev.stage ? `${ev.epoch.toFixed(2)} (${ev.stage})` : ev.epoch.toFixed(2),
          etaText: duration(remaining),
        };
        if (tty) {
          if (!bar) {
            bar = new cliProgress.SingleBar(
              {
                format: "  {bar} {value}/{total} steps | epoch {epoch} | loss {loss} | {speed} | {memory} | ETA {etaText}",
                stream: process.stderr,
                hideCursor: true,
                clearOnComplete: true,
              },
              cliProgress.Presets.shades_classic,
            );
            bar.start(ev.total_steps, ev.step, payload);
          } else bar.update(ev.step, payload);
        } else {
          const decile = Math.floor((10 * ev.step) / ev.total_steps);
          if (decile !== lastLogged) {
            lastLogged = decile;
            process.stderr.write(
              `  step ${ev.step}/${ev.total_steps} | epoch ${payload.epoch} | loss ${payload.loss} | ${payload.speed} | ${payload.memory} | ETA ${payload.etaText}\n`,
            );
          }
        }
      }
    },
    stop: () => bar?.stop(),
  };
}
