// Run one engine job as a child process: job line in, validated events out.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { writeJsonAtomic } from "../util/fs.js";
import { PROTOCOL_VERSION, Event, type Control, type EventOf, type Job } from "../protocol/schema.js";
import { HoneError } from "../util/errors.js";
import { ENGINE_DIR, pythonExecutable } from "./python.js";

export interface EngineHandlers {
  onEvent?: (event: Event) => void;
  /** Called for each `eval` event; the engine waits for the answer. */
  onEval?: (event: EventOf<"eval">) => Control | Promise<Control>;
  /** Called for each `completions` event (lm.grpo); the engine waits for their rewards. */
  onCompletions?: (event: EventOf<"completions">) => Control | Promise<Control>;
  /** Each line the engine wrote on stderr (library warnings, tracebacks). */
  onStderr?: (line: string) => void;
  /** Extra environment for the engine process, e.g. CUDA_VISIBLE_DEVICES for a search trial. */
  env?: Record<string, string>;
  /** false: the result lists only error and done events (long-lived serving jobs). */
  keepEvents?: boolean;
  /** A job over several machines: this node's rank and the rendezvous (train.nodes). */
  nodes?: { rank: number; endpoint: string | null; id: string };
}

export interface EngineResult {
  events: Event[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string[];
}

export interface EngineHandle {
  result: Promise<EngineResult>;
  /** The engine's process id (null if it could not start). */
  pid: number | null;
  /** A control line to the engine (requests of a serving job). */
  send(control: Control): void;
  /** Ask the engine to finish the current step, checkpoint and stop (Ctrl-C). */
  interrupt(): void;
  kill(): void;
}

/** Start a job. (Long: the child process's whole life — spawn, events in order, control lines,
 * exit — kept in one place so its ordering rules are seen together.) */
export function startEngine(job: Job, handlers: EngineHandlers = {}): EngineHandle {
  // A job for several processes starts under torchrun: each process reads the job from its file,
  // rank 0 writes the events and reads the control lines (engine/hone_engine/protocol.py).
  const processes = job.kind === "lm.train" ? job.runtime.processes : 1;
  const nodes = job.kind === "lm.train" ? job.runtime.nodes : 1;
  let jobFile: string | null = null;
  if (processes > 1 || nodes > 1) {
    jobFile = join(job.kind === "lm.train" ? job.run_dir : tmpdir(), `job-${process.pid}-${Date.now().toString(36)}.json`);
    writeJsonAtomic(jobFile, job);
  }
  if (nodes > 1 && !handlers.nodes?.endpoint) throw new HoneError("engine", "a job over several nodes needs its rendezvous endpoint");
  // Several machines: torchrun's c10d rendezvous at the endpoint; the engine ranks the head's
  // processes first by HONE_NODE_RANK (engine/hone_engine/protocol.py, launch_rank).
  const rendezvous =
    nodes > 1
      ? [`--nnodes=${nodes}`, "--rdzv-backend=c10d", `--rdzv-endpoint=${handlers.nodes!.endpoint}`, `--rdzv-id=${handlers.nodes!.id}`]
      : ["--standalone"];
  const args =
    processes > 1 || nodes > 1
      ? ["-m", "torch.distributed.run", ...rendezvous, `--nproc-per-node=${processes}`, "-m", "hone_engine"]
      : ["-u", "-m", "hone_engine"];
  const child = spawn(pythonExecutable(), args, {
    // Prepend, not replace: a user's PYTHONPATH may hold packages the engine needs.
    env: {
      ...process.env,
      ...handlers.env,
      PYTHONPATH: [ENGINE_DIR, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
      PYTHONUNBUFFERED: "1",
      ...(jobFile ? { HONE_JOB_FILE: jobFile, OMP_NUM_THREADS: String(job.kind === "lm.train" && job.runtime.threads ? job.runtime.threads : 1) } : {}),
      ...(nodes > 1 ? { HONE_NODE_RANK: String(handlers.nodes!.rank) } : {}),
    },
    stdio: ["pipe", "pipe", "pipe"],
    // Its own process group: a terminal's Ctrl-C reaches only us, and we forward it once.
    detached: true,
  });
  const events: Event[] = [];
  const stderrTail: string[] = [];
  let protocolError: HoneError | null = null;
  let answerError: Error | null = null;

  child.stdin.on("error", () => {}); // the engine may exit before reading everything
  if (!jobFile) child.stdin.write(`${JSON.stringify(job)}\n`);

  const stderr = createInterface({ input: child.stderr });
  stderr.on("line", (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 60) stderrTail.shift();
    handlers.onStderr?.(line);
  });

  const lines = createInterface({ input: child.stdout });
  let chain: Promise<void> = Promise.resolve();
  lines.on("line", (line) => {
    // Handle events strictly in order, even when a handler is asynchronous.
    chain = chain.then(async () => {
      if (protocolError || answerError) return;
      let event: Event;
      try {
        event = Event.parse(JSON.parse(line));
      } catch (e) {
        protocolError = new HoneError("engine", "the engine broke the protocol", [
          { message: `bad event line: ${line.slice(0, 200)}`, hint: String(e).slice(0, 200) },
        ]);
        child.kill("SIGKILL");
        return;
      }
      // A serving engine streams tokens for as long as it runs: keep only what ends it.
      if (handlers.keepEvents !== false || event.type === "error" || event.type === "done") events.push(event);
      handlers.onEvent?.(event);
      // The engine waits for an answer to these: an answer that fails stops it (it would wait forever).
      let control: Control | null = null;
      try {
        if (event.type === "eval") control = handlers.onEval ? await handlers.onEval(event) : { type: "continue" };
        if (event.type === "completions")
          control = handlers.onCompletions ? await handlers.onCompletions(event) : { type: "stop", reason: "nobody gives rewards" };
      } catch (e) {
        answerError = e as Error;
        child.kill("SIGKILL"); // blocked on its stdin; its checkpoints are whole (written to a temporary folder, renamed)
        return;
      }
      if (control && child.stdin.writable) child.stdin.write(`${JSON.stringify(control)}\n`);
    });
  });

  const result = new Promise<EngineResult>((resolvePromise, reject) => {
    child.on("error", (err) =>
      reject(
        new HoneError("engine", `cannot start the engine: ${err.message}`, [
          { message: `python: ${pythonExecutable()}`, hint: "run the set-up command from the README" },
        ]),
      ),
    );
    child.on("close", (exitCode, signal) => {
      chain.then(() => {
        child.stdin.end();
        if (protocolError) reject(protocolError);
        else if (answerError) reject(answerError);
        else resolvePromise({ events, exitCode, signal, stderrTail });
      }, reject);
    });
  });

  // If we die, the engine sees stdin close and stops at the end of its step.
  const onExit = () => child.kill("SIGTERM");
  process.once("exit", onExit);
  result
    .finally(() => {
      process.removeListener("exit", onExit);
      if (jobFile) rmSync(jobFile, { force: true });
    })
    .catch(() => {});

  return {
    result,
    pid: child.pid ?? null,
    send: (control) => {
      if (child.stdin.writable) child.stdin.write(`${JSON.stringify(control)}\n`);
    },
    interrupt: () => {
      if (child.exitCode === null) child.kill("SIGINT");
    },
    kill: () => {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

/** Turn an engine `error` event (or a crash without one) into a HoneError. */
export function engineFailure(result: EngineResult): HoneError {
  const err = result.events.find((e): e is EventOf<"error"> => e.type === "error");
  if (err) {
    const kind = err.code === "model_load" ? "model" : "engine";
    if (err.code === "disk_full")
      return new HoneError(kind, err.message, [
        {
          message: "the engine could not finish a write; the checkpoints already written are intact",
          hint: "free some space, then continue with: hone train --resume <run>",
        },
      ]);
    return new HoneError(kind, err.message, err.detail && err.code === "internal" ? [{ message: err.detail.trim().split("\n").slice(-3).join(" | ") }] : []);
  }
  return new HoneError("engine", `the engine stopped unexpectedly (exit ${result.exitCode ?? result.signal})`, [
    { message: result.stderrTail.slice(-8).join("\n") || "no output" },
  ]);
}

/** The engine's end; an abort meanwhile (Ctrl-C) asks it to finish its step, save and stop. */
export async function untilExit(handle: EngineHandle, signal: AbortSignal | undefined): Promise<EngineResult> {
  const onAbort = () => handle.interrupt();
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort);
  try {
    return await handle.result;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

export async function runEngine(job: Job, handlers: EngineHandlers = {}): Promise<EngineResult> {
  const r = await startEngine(job, handlers).result;
  if (r.exitCode !== 0) throw engineFailure(r);
  return r;
}

let probeCache: Promise<EventOf<"probe">> | null = null;

/** What the engine's machine offers (device, bf16), asked once per process. */
export function probe(): Promise<EventOf<"probe">> {
  probeCache ??= runEngine({ kind: "probe", protocol_version: PROTOCOL_VERSION }).then((r) => {
    const p = r.events.find((e): e is EventOf<"probe"> => e.type === "probe");
    if (!p) throw new HoneError("engine", "the engine's probe returned nothing");
    return p;
  });
  return probeCache;
}
