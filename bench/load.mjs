// Load test of `hone serve` on loopback at fixed arrival rates (open loop: requests leave on a
// schedule whatever the answers do, and latency counts from the scheduled time, so a slow server
// cannot hide its queue: no coordinated omission). Closed-loop tools such as autocannon measure
// something else, which is why this generator is ours. It sends with node:http on kept-alive
// sockets: fetch (undici) costs the generator several times more per request, and its own event
// loop delays then showed up as server latency (p99 of a bare /healthz 5 ms against 2 ms).
//   node bench/load.mjs <bundle> [--texts data.jsonl] [--duration 10] [--start 25] [--threads N] [--tag cpu]
//       -> bench/results/load-<tag>.json and the "load" section of docs/benchmarks.md
//   node bench/load.mjs render   -> the section again from the newest bench/results/load-*.json
// Ramps the rate (x1.5 per step) until a step fails (any error, < 95% of the offered rate
// completed, p99 over 1 s, or latency rising through the step), narrows the limit between the
// last passing and the failing rate, then holds 80% of the highest passing rate and checks
// p99 <= 3 x p50.
import { spawn } from "node:child_process";
import http from "node:http";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadResults, machine, root, saveResult, writeDocSection } from "./lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args.splice(args.indexOf(name), 2)[1] : dflt);

function render() {
  const r = loadResults(/^load-.*\.json$/).at(-1);
  if (!r) return;
  const f = (v) => v.toFixed(1);
  const { hold, max } = r;
  const table = [
    "| offered req/s | sent | answered | errors | p50 | p99 | latency trend | verdict |",
    "|---|---|---|---|---|---|---|---|",
    ...r.ramp.map(
      (s) =>
        `| ${s.rate.toFixed(0)} | ${s.sent} | ${s.completed} | ${s.errors} | ${f(s.p50)} ms | ${f(s.p99)} ms | ${f(s.trend)} ms/s | ${s.ok ? "sustained" : "over capacity"} |`,
    ),
    `| **${hold.rate.toFixed(0)} (80% of ${max.toFixed(0)})** | ${hold.sent} | ${hold.completed} | ${hold.errors} | ${f(hold.p50)} ms | ${f(hold.p99)} ms | ${f(hold.trend)} ms/s | p99/p50 = ${(hold.p99 / hold.p50).toFixed(2)} ${hold.errors === 0 && hold.p99 <= 3 * hold.p50 ? "(<= 3: pass)" : "(fail)"} |`,
  ];
  const m = r.machine;
  writeDocSection(
    "load",
    [
      "<!-- load:start -->",
      "## Load test: `hone serve` at fixed arrival rates",
      "",
      `Command: \`${r.command}\` (open-loop generator in \`bench/load.mjs\`, one text per request, loopback; the generator shares the machine with the server); raw: \`bench/results/${r.file}\`  `,
      `Bundle: run \`${r.bundle.run_id}\`, ONNX ${r.bundle.quantize === "none" ? "fp32" : r.bundle.quantize}; server defaults (micro-batches up to 32, 2 ms wait, ${r.threads ? `ONNX Runtime on ${r.threads} threads` : "ONNX Runtime on all cores but one"})  `,
      `Machine: ${m.cpus} × ${m.cpu}, ${m.ram_gib} GiB RAM, Node ${m.node}  `,
      `Date: ${r.date.slice(0, 10)}`,
      "",
      `Each step sends requests on a fixed schedule for ${r.duration} s; latency counts from the scheduled send time. A step is sustained with no errors, >= 95% answered, p99 under 1 s and no queue building up (latency trend, the least-squares slope of latency over send time, under 10 ms per second: a server short of the rate by x% gains x * 10 ms per second); the rate grows 1.5x per step until one fails, then three steps halve the bracket (geometric mean of the highest sustained and the lowest failed rate). The last row holds 80% of the highest sustained rate for ${r.duration * 2} s.`,
      "",
      ...table,
      "<!-- load:end -->",
    ].join("\n"),
  );
  console.log(table.join("\n"));
}
if (args[0] === "render") {
  render();
  process.exit(0);
}
const tag = opt("--tag", "cpu");
const textsFile = opt("--texts", join(root, "examples", "support", "data.jsonl"));
const duration = Number(opt("--duration", "10"));
let rate = Number(opt("--start", "25"));
const threads = opt("--threads", null);
const bundle = resolve(args[0]);
const texts = readFileSync(textsFile, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((l) => JSON.parse(l).text);

const server = spawn(
  process.execPath,
  [join(root, "bin", "hone"), "serve", bundle, "--port", "0", "--max-in-flight", "100000", ...(threads ? ["--threads", threads] : [])],
  { stdio: ["ignore", "ignore", "pipe"] },
);
const url = await new Promise((res, rej) => {
  let err = "";
  server.stderr.on("data", (d) => {
    err += d;
    const m = /at (http:\/\/\S+)/.exec(err);
    if (m) res(m[1]);
  });
  server.on("exit", (code) => rej(new Error(`server exited ${code}: ${err}`)));
});

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
/** POST /v1/classify; resolves with the status once the whole answer has been read. */
const post = (body) =>
  new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/v1/classify`,
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (resp) => {
        resp.resume();
        resp.on("end", () => resolve(resp.statusCode));
        resp.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });

/** Least-squares slope of y (ms) over x (s): ms of latency gained per second of the step. */
function slope(x, y) {
  const n = x.length;
  if (n < 2) return 0;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : 0;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;

async function step(r, seconds) {
  const n = Math.round(r * seconds);
  const lat = [];
  const at = []; // send times (s from the step's start), for the latency trend
  let errors = 0;
  const t0 = performance.now() + 50;
  const pending = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / r;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((res) => setTimeout(res, wait));
    // Timers may fire up to a millisecond early: latency counts from the later of due and sent.
    const sent = performance.now();
    pending.push(
      post(JSON.stringify({ texts: [texts[i % texts.length]] }))
        .then((status) => {
          if (status !== 200) errors++;
          else {
            lat.push(performance.now() - Math.max(due, sent));
            at.push((due - t0) / 1000);
          }
        })
        .catch(() => errors++),
    );
  }
  const end = t0 + seconds * 1000;
  await Promise.all(pending);
  const late = performance.now() - end; // how long after the window the last answer came
  const trend = slope(at, lat);
  lat.sort((a, b) => a - b);
  const completed = lat.length;
  // A server that keeps up has no latency trend; one that does not builds a queue, and latency
  // then grows by (offered - served) / served seconds per second: more than 1% is over capacity.
  const ok = errors === 0 && completed >= 0.95 * n && pct(lat, 99) < 1000 && late < 1000 && trend < 10;
  return { rate: r, sent: n, completed, errors, p50: pct(lat, 50), p99: pct(lat, 99), trend, drain_ms: Math.max(0, late), ok };
}

const say = (s) =>
  process.stderr.write(
    `${s.rate.toFixed(0)} req/s: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, trend ${s.trend.toFixed(1)} ms/s, errors ${s.errors} -> ${s.ok ? "ok" : "over"}\n`,
  );
const ramp = [];
try {
  await step(rate, 2); // warm-up
  for (;;) {
    const s = await step(rate, duration);
    ramp.push(s);
    say(s);
    if (!s.ok || rate > 5000) break;
    rate *= 1.5;
  }
  // The ramp brackets the limit within 1.5x; three halvings (geometric) narrow it to ~5%, so
  // that "80% of the maximum" is close to 80% and not anywhere down to 53%.
  let lo = ramp.filter((s) => s.ok).at(-1)?.rate ?? 0;
  let hi = ramp.at(-1).ok ? Infinity : ramp.at(-1).rate;
  for (let i = 0; i < 3 && lo > 0 && hi < Infinity; i++) {
    const s = await step(Math.sqrt(lo * hi), duration);
    ramp.push(s);
    say(s);
    if (s.ok) lo = s.rate;
    else hi = s.rate;
  }
  ramp.sort((a, b) => a.rate - b.rate);
  const max = lo;
  const hold = await step(0.8 * max, duration * 2);
  process.stderr.write(`hold at ${hold.rate.toFixed(0)} req/s: p50 ${hold.p50.toFixed(1)} ms, p99 ${hold.p99.toFixed(1)} ms, errors ${hold.errors}\n`);
  const manifest = JSON.parse(readFileSync(join(bundle, "bundle.json"), "utf8"));
  saveResult(`load-${tag}.json`, {
    bench: "load",
    command: `node bench/load.mjs <bundle> --duration ${duration}${threads ? ` --threads ${threads}` : ""}`,
    date: new Date().toISOString(),
    machine: machine("cpu"),
    bundle: { run_id: manifest.run_id, quantize: manifest.quantize },
    texts: textsFile.replace(`${root}/`, ""),
    duration,
    threads,
    ramp,
    max,
    hold,
  });
  render();
} finally {
  server.kill("SIGTERM");
}
