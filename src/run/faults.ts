// Fault injection for the interruption tests: HONE_FAULT=<point>[@<n>] makes this process kill
// itself (SIGKILL, no clean-up) the n-th time it reaches that point (default the first). The
// points are the lifecycle's moments where an interruption is hardest to survive; the tests
// then resume the run and compare it with an uninterrupted one (src/run/lifecycle.e2e.test.ts).
const counts = new Map<string, number>();

export type FaultPoint = "created" | "eval" | "checkpoint" | "finalise" | "report" | "augment-chunk";

export function faultPoint(point: FaultPoint): void {
  const spec = process.env.HONE_FAULT;
  if (!spec) return;
  const [name, nth] = spec.split("@");
  if (name !== point) return;
  const n = (counts.get(point) ?? 0) + 1;
  counts.set(point, n);
  if (n === Number(nth ?? 1)) process.kill(process.pid, "SIGKILL");
}
