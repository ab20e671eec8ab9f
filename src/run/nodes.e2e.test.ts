// Two "nodes" on one machine, two CPU processes each (gloo, torchrun's c10d rendezvous), through
// the real CLI and engine: each node is its own `hone train` with its own store, as two machines
// would be. The job trains exactly as one process with the same global batch, a mismatched node
// is refused, and a run killed on the head resumes across both nodes to the same result.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { EXAMPLE_DATA, hone, honeSpawn, jsonLines, settled, tempDir, tinyLm, tinySftArgs, writeChat, type CliResult } from "../testing/fixtures.js";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const port = (server.address() as { port: number }).port;
  await new Promise((res) => server.close(res));
  return port;
}

/** The CLI to its end, without blocking the other node's. `onLine` may kill it. */
function honeAsync(args: string[], onLine?: (line: Record<string, unknown>, kill: () => void) => void): Promise<CliResult> {
  const child = honeSpawn(args);
  let stdout = "";
  let stderr = "";
  let seen = 0;
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    const lines = jsonLines(stdout.slice(0, stdout.lastIndexOf("\n") + 1));
    for (const l of lines.slice(seen)) onLine?.(l, () => child.kill("SIGKILL"));
    seen = lines.length;
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((res) => child.on("close", (status) => res({ status, stdout, stderr })));
}

const result = (r: CliResult) => jsonLines(r.stdout).find((l) => l.kind === "result") as { run: string; best_step: number; test: { loss: number } };
const evals = (r: CliResult) => (jsonLines(r.stdout).filter((l) => l.type === "eval") as { loss: number }[]).map((e) => e.loss);

test("two nodes of two processes train as one process with the same global batch (data parallel and FSDP); a mismatched node is refused; resume works across them", async () => {
  const dir = tempDir();
  const chat = writeChat(join(dir, "chat.jsonl"));
  const model = tinyLm([EXAMPLE_DATA, chat]);
  const settings = (store: string, batch: number, sets: string[] = []) =>
    tinySftArgs(store, model, chat, "nodes", [
      "train.threads=1",
      "data.max_length=64",
      "adapter.dropout=0",
      "train.lr=1e-2",
      "data.packing=false",
      "generation.eval_samples=0",
      "train.max_steps=16",
      "train.eval_every=4",
      `train.batch_size=${batch}`,
      ...sets,
    ]);
  const node = (store: string, rank: number, port: number, sets: string[] = []) => [
    ...settings(store, 1, ["train.processes=2", ...sets]),
    "--nodes",
    "2",
    "--node-rank",
    String(rank),
    "--endpoint",
    `127.0.0.1:${port}`,
  ];

  // The reference: one process, batch 4 = 2 nodes x 2 processes x 1 row.
  const one = hone(settings(join(dir, "one"), 4));
  assert.equal(one.status, 0, one.stderr);

  let port = await freePort();
  const [head, other] = await Promise.all([honeAsync(node(join(dir, "head"), 0, port)), honeAsync(node(join(dir, "other"), 1, port))]);
  assert.equal(head.status, 0, head.stderr);
  assert.equal(other.status, 0, other.stderr);
  assert.deepEqual(
    jsonLines(other.stdout).find((l) => l.kind === "node"),
    { kind: "node", node: 1, nodes: 2, endpoint: `127.0.0.1:${port}`, step: 16, reason: "completed" },
  );
  assert.equal(evals(head).length, evals(one).length);
  evals(head).forEach((l, i) => assert.ok(Math.abs(l - evals(one)[i]!) < 1e-4, `evaluation ${i}: ${l} vs ${evals(one)[i]}`));
  assert.ok(Math.abs(result(head).test.loss - result(one).test.loss) < 1e-4, `${result(head).test.loss} vs ${result(one).test.loss}`);
  // Rank 0 alone writes: the other node's store holds no run.
  const listed = hone(["--store", join(dir, "other"), "runs", "list", "--json"]);
  assert.deepEqual(JSON.parse(listed.stdout), []);

  // FSDP over both nodes' four processes: each holds a quarter of the adapter and its moments;
  // the same losses, and the same test loss from the adapter gathered whole into the checkpoint.
  port = await freePort();
  const sharded = await Promise.all([
    honeAsync(node(join(dir, "fsdp-head"), 0, port, ["train.fsdp=true"])),
    honeAsync(node(join(dir, "fsdp-other"), 1, port, ["train.fsdp=true"])),
  ]);
  for (const r of sharded) assert.equal(r.status, 0, r.stderr);
  evals(sharded[0]).forEach((l, i) => assert.ok(Math.abs(l - evals(one)[i]!) < 1e-4, `FSDP evaluation ${i}: ${l} vs ${evals(one)[i]}`));
  assert.ok(Math.abs(result(sharded[0]).test.loss - result(one).test.loss) < 1e-4);

  // A node started with other settings is refused, on both nodes, with what differs.
  port = await freePort();
  const mismatched = await Promise.all([honeAsync(node(join(dir, "bad-head"), 0, port)), honeAsync(node(join(dir, "bad-other"), 1, port, ["train.lr=2e-2"]))]);
  for (const r of mismatched) {
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /node 1 was started with other settings than the head/);
  }

  // kill -9 of the head's CLI after its first checkpoint: the job stops on both nodes (the
  // other node says so), the head resumes the run, the other node joins again and receives the
  // checkpoint over the process group; the result equals the uninterrupted run's.
  port = await freePort();
  const store = join(dir, "resumed");
  let runId = "";
  const [killed, left] = await Promise.all([
    honeAsync(node(store, 0, port), (l, kill) => {
      if (l.kind === "run") runId = String(l.id);
      if (l.type === "checkpoint") kill();
    }),
    honeAsync(node(join(dir, "other2"), 1, port)),
  ]);
  assert.equal(killed.status, null);
  assert.equal(left.status, 0, left.stderr);
  const stopped = jsonLines(left.stdout).find((l) => l.kind === "node") as { reason: string; step: number };
  assert.equal(stopped.reason, "interrupted");
  assert.ok(stopped.step < 16);
  assert.equal(await settled(store, runId), "interrupted");
  port = await freePort();
  const [resumed, rejoined] = await Promise.all([
    honeAsync(["--store", store, "train", "--resume", runId, "--json", "--endpoint", `127.0.0.1:${port}`]),
    honeAsync(node(join(dir, "other3"), 1, port)),
  ]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(rejoined.status, 0, rejoined.stderr);
  assert.ok((jsonLines(resumed.stdout).find((l) => l.type === "started") as { start_step: number }).start_step > 0, "continued from a checkpoint");
  assert.equal(result(resumed).run, runId);
  assert.ok(Math.abs(result(resumed).test.loss - result(head).test.loss) < 1e-6, `${result(resumed).test.loss} vs ${result(head).test.loss}`);
});
