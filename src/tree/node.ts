// Node: the common base of everything in the tree (name, description, path, groups, children).

import type { Root } from './root.ts';

/** Options common to every node. */
export interface NodeOptions {
  name: string;
  description?: string;
  /** Shorthand for membership of the 'Hidden' group, as in PyRogue. */
  hidden?: boolean;
  groups?: string | string[];
  /**
   * Access security group (an ASG of the server's access security file) for this node and, unless
   * they name their own, its children. Unset: the parent's; none up to the root: DEFAULT.
   */
  asg?: string;
}

/**
 * The group pvtree puts every framework-made node in: the Root's built-ins (RogueVersion, ReadAll,
 * LoadConfigProcess …) and each device's enable / ReadDevice / WriteDevice. PyRogue has no such
 * group; it lets a server leave them out with the usual group rules.
 */
export const BUILTIN_GROUP = 'Builtin';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*(\[\d+\])*$/;

/** A misuse of the tree: a bad name, a duplicate child, adding after start … */
export class NodeError extends Error {
  override name = 'NodeError';
}

/** One group name, a list of them, or none. */
export type GroupSpec = string | readonly string[] | null | undefined;

/**
 * The children of every node that has none (a leaf: most variables and commands), shared so a
 * leaf carries no map of its own; `_addChild` gives a node its own map first. Refuses writes.
 */
class NoChildren extends Map<string, Node> {
  override set(): never {
    throw new NodeError('internal: the shared empty child map was written to');
  }
}
const NO_CHILDREN: Map<string, Node> = new NoChildren();

/** The groups of every node in none, shared (copied before the first group is added). */
const NO_GROUPS = Object.freeze([]) as unknown as string[];

/** A named element of the tree (PyRogue's Node): a path, a description, groups, and children. */
export class Node {
  // Fields are declared and assigned in the constructor rather than initialized as class fields:
  // every kind of node runs this constructor, and V8 defines class fields of such a polymorphic
  // initializer slowly (a large share of building a big tree).
  declare readonly name: string;
  declare readonly description: string;
  declare private _groups: string[];
  /** Access security group named for this node itself (see NodeOptions.asg). */
  declare asg: string | undefined;
  declare private _parent: Node | undefined;
  /** Made when first asked for, and again after the node moves (a tree is built bottom-up). */
  declare private _path: string | undefined;
  declare private _root: Root | undefined; // cached on attach: hot paths ask for it on every update
  /** Children in insertion order (tree order); a leaf shares NO_CHILDREN until it gets one. */
  declare protected _nodes: Map<string, Node>;

  constructor(opts: NodeOptions) {
    if (!opts || typeof opts.name !== 'string' || !NAME_RE.test(opts.name)) {
      throw new NodeError(`invalid node name ${JSON.stringify(opts?.name)}: use letters, digits and _ (optionally [n] suffixes)`);
    }
    this.name = opts.name;
    this.description = opts.description ?? '';
    this._groups = NO_GROUPS;
    this.asg = opts.asg;
    this._parent = undefined;
    this._path = undefined;
    this._root = undefined;
    this._nodes = NO_CHILDREN;
    const g = opts.groups;
    if (g !== undefined) for (const x of typeof g === 'string' ? [g] : g) this.addToGroup(x);
    if (opts.hidden) this.addToGroup('Hidden');
  }

  /** Dotted path from the root, e.g. 'Root.Dev.Sub.Var'. */
  get path(): string {
    // joined, a path is one flat string; a template would keep two concatenation nodes per node,
    // and a copy besides once the string is flattened (as a map key, by replace …)
    return (this._path ??= this._parent ? [this._parent.path, this.name].join('.') : this.name);
  }
  get parent(): Node | undefined { return this._parent; }
  get groups(): readonly string[] { return this._groups; }
  get hidden(): boolean { return this._groups.includes('Hidden'); }
  set hidden(v: boolean) { if (v) this.addToGroup('Hidden'); else this.removeFromGroup('Hidden'); }
  /** The access security group in force: this node's `asg`, else the nearest ancestor's. */
  get accessGroup(): string | undefined {
    for (let n: Node | undefined = this; n; n = n._parent) if (n.asg) return n.asg;
    return undefined;
  }
  /** Direct children in tree order. */
  get nodes(): ReadonlyMap<string, Node> { return this._nodes; }

  /** Add to a group; like PyRogue, children follow. */
  addToGroup(group: string): void {
    if (!this._groups.includes(group)) {
      if (this._groups === NO_GROUPS) this._groups = [group];
      else this._groups.push(group);
    }
    for (const c of this._nodes.values()) c.addToGroup(group);
  }

  removeFromGroup(group: string): void {
    const i = this._groups.indexOf(group);
    if (i >= 0) this._groups.splice(i, 1);
    for (const c of this._nodes.values()) c.removeFromGroup(group);
  }

  /** True when in `group`, or in any of a list of groups. */
  inGroup(group: string | readonly string[]): boolean {
    if (typeof group === 'string') return this._groups.includes(group);
    for (const g of group) if (this._groups.includes(g)) return true;
    return false;
  }

  /**
   * PyRogue's filter: passes when (no/empty include list, or in an include group)
   * and (no/empty exclude list, or in none of the exclude groups).
   */
  filterByGroup(incGroups?: GroupSpec, excGroups?: GroupSpec): boolean {
    const inc = incGroups == null || incGroups.length === 0 || this.inGroup(incGroups as string | string[]);
    const exc = excGroups == null || excGroups.length === 0 || !this.inGroup(excGroups as string | string[]);
    return inc && exc;
  }

  /** The Root this node is attached to, if any. */
  get root(): Root | undefined {
    return this._root ?? ((this as { _isRoot?: boolean })._isRoot ? (this as unknown as Root) : undefined);
  }

  /** Direct child by name. */
  node(name: string): Node | undefined {
    return this._nodes.get(name);
  }

  /** Lookup by dotted path, absolute ('Root.Dev.Var') or relative to this node ('Dev.Var'). */
  getNode(path: string): Node | undefined {
    let rel = path;
    const own = this.path;
    if (path === own) return this;
    if (path.startsWith(own + '.')) rel = path.slice(own.length + 1);
    else if (path === this.name) return this;
    else if (path.startsWith(this.name + '.') && !this._nodes.has(path.split('.')[0])) rel = path.slice(this.name.length + 1);
    let n: Node | undefined = this;
    for (const part of rel.split('.')) {
      n = n._nodes.get(part);
      if (!n) return undefined;
    }
    return n;
  }

  /** Walk the whole subtree depth-first in tree order (excluding this node). */
  *descendants(): IterableIterator<Node> {
    // one generator with a stack of child iterators: nested yield* would pass every node up
    // through one generator per level
    const stack: Iterator<Node>[] = [this._nodes.values()];
    while (stack.length) {
      const r = stack[stack.length - 1].next();
      if (r.done) {
        stack.pop();
        continue;
      }
      const c = r.value;
      yield c;
      if (c._nodes.size) stack.push(c._nodes.values());
    }
  }

  /** Attach a child; subclasses decide which kinds are allowed. */
  protected _addChild(child: Node): void {
    if (child._parent) throw new NodeError(`${child.name} is already attached at ${child.path}`);
    if (this._nodes.has(child.name)) throw new NodeError(`${this.path} already has a child named ${child.name}`);
    if (this._nodes === NO_CHILDREN) this._nodes = new Map();
    this._nodes.set(child.name, child);
    child._parent = this;
    for (const g of this._groups) child.addToGroup(g);
    child._updatePath();
  }

  private _updatePath(): void {
    // the path is made again when asked for: a device built before it is attached would otherwise
    // build every path once per level it is attached at
    this._path = undefined;
    this._root = this._parent?.root;
    for (const c of this._nodes.values()) c._updatePath();
  }

  toString(): string {
    return `${this.constructor.name}(${this.path})`;
  }
}
