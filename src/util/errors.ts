// User-facing errors. A HoneError is the user's to fix: it is printed without a stack
// trace and the process exits non-zero. Anything else is a bug and keeps its stack.

export interface Issue {
  /** Where: a file, optionally with line, and a field path. */
  file?: string;
  line?: number;
  path?: (string | number)[];
  message: string;
  hint?: string;
}

export type ErrorKind = "config" | "data" | "model" | "engine" | "store" | "usage" | "interrupted";

/** Exit codes, stable for scripts: 2 usage/config/data, 3 model, 4 engine, 5 store, 130 interrupted. */
export const EXIT_CODES: Record<ErrorKind, number> = {
  usage: 2,
  config: 2,
  data: 2,
  model: 3,
  engine: 4,
  store: 5,
  interrupted: 130,
};

export class HoneError extends Error {
  readonly kind: ErrorKind;
  readonly issues: Issue[];
  constructor(kind: ErrorKind, message: string, issues: Issue[] = []) {
    super(message);
    this.name = "HoneError";
    this.kind = kind;
    this.issues = issues;
  }
  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

export function location(issue: Issue): string {
  let where = issue.file ?? "";
  if (issue.line !== undefined) where += `:${issue.line}`;
  if (issue.path && issue.path.length > 0) where += `${where ? " " : ""}${formatPath(issue.path)}`;
  return where;
}

export function formatPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** Format once, for people. */
export function formatError(err: HoneError, maxIssues = 20): string {
  const lines = [`error: ${err.message}`];
  for (const issue of err.issues.slice(0, maxIssues)) {
    const where = location(issue);
    lines.push(`  ${where ? `${where}: ` : ""}${issue.message}`);
    if (issue.hint) lines.push(`    hint: ${issue.hint}`);
  }
  if (err.issues.length > maxIssues) lines.push(`  ... and ${err.issues.length - maxIssues} more`);
  return lines.join("\n");
}
