// A label tree built from the label paths of the training data. A node is identified by its
// full path (so "a/x" and "b/x" are different nodes); a node is *terminal* when some example's
// path ends there, which may also be an internal node (labels of unequal depth).

export interface TreeNode {
  id: number;
  name: string;
  /** Path from the top level down to this node, inclusive. */
  path: string[];
  /** The path joined with the separator: the node's label. */
  key: string;
  /** Parent node id, or -1 for top-level nodes. */
  parent: number;
  children: number[];
  /** 1 for top-level nodes. */
  depth: number;
  /** Some label path ends here. */
  terminal: boolean;
}

export class Tree {
  readonly nodes: TreeNode[] = [];
  /** Top-level node ids (children of the virtual root). */
  readonly top: number[] = [];
  private readonly byKey = new Map<string, number>();

  constructor(
    paths: string[][],
    readonly separator: string,
  ) {
    // Sorted so that node ids, head classes and ties are the same on every machine.
    const sorted = [...paths].sort((a, b) => compare(a, b));
    for (const path of sorted) {
      if (path.length === 0) throw new Error("empty label path");
      let parent = -1;
      for (let d = 1; d <= path.length; d++) {
        const key = path.slice(0, d).join(separator);
        let id = this.byKey.get(key);
        if (id === undefined) {
          id = this.nodes.length;
          this.nodes.push({ id, name: path[d - 1]!, path: path.slice(0, d), key, parent, children: [], depth: d, terminal: false });
          this.byKey.set(key, id);
          (parent === -1 ? this.top : this.nodes[parent]!.children).push(id);
        }
        parent = id;
      }
      this.nodes[parent]!.terminal = true;
    }
  }

  get maxDepth(): number {
    return this.nodes.reduce((m, n) => Math.max(m, n.depth), 0);
  }

  /** Terminal nodes in tree order: the classes of a flat classifier. */
  get terminals(): number[] {
    return this.nodes.filter((n) => n.terminal).map((n) => n.id);
  }

  /** Internal nodes (with children), plus the virtual root as -1 first. */
  get parents(): number[] {
    return [-1, ...this.nodes.filter((n) => n.children.length > 0).map((n) => n.id)];
  }

  children(parent: number): number[] {
    return parent === -1 ? this.top : this.nodes[parent]!.children;
  }

  atDepth(depth: number): number[] {
    return this.nodes.filter((n) => n.depth === depth).map((n) => n.id);
  }

  find(key: string): number | undefined {
    return this.byKey.get(key);
  }

  node(id: number): TreeNode {
    return this.nodes[id]!;
  }

  /** Node ids from the top level down to `id`, inclusive. */
  lineage(id: number): number[] {
    const out: number[] = [];
    for (let n = id; n !== -1; n = this.nodes[n]!.parent) out.push(n);
    return out.reverse();
  }
}

function compare(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}
