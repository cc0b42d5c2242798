// `pvtree serve tree.ts`: a tree written in TypeScript needs a loader. The compiled CLI registers
// tsx's ESM hooks the first time such a tree is served, and only then: JavaScript and YAML trees,
// and every other command, start without it.

/** Files that need a TypeScript loader. */
export const TS_TREE = /\.(?:ts|mts|cts)$/i;

let ready: Promise<void> | undefined;

/** What to tell the user when no loader can be had. */
export function missingLoaderMessage(file: string): string {
  return (
    `${file} is TypeScript, and serving it needs the tsx loader, which is not installed: ` +
    `run 'npm install --save-dev tsx' in your project (or compile the tree to JavaScript)`
  );
}

/**
 * Makes `import()` of `.ts` files work: nothing to do when this code itself runs from TypeScript
 * sources (a loader is active already), else tsx's `register()`. Rejects with
 * {@link missingLoaderMessage} when tsx cannot be imported.
 */
export function ensureTypeScriptLoader(file: string): Promise<void> {
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  ready ??= (async () => {
    let api: { register(): unknown };
    try {
      api = (await import('tsx/esm/api')) as { register(): unknown };
    } catch {
      throw new Error(missingLoaderMessage(file));
    }
    api.register();
  })();
  ready.catch(() => (ready = undefined));
  return ready;
}
