/**
 * `import()` that survives the CommonJS build (TypeScript compiles `import()` to `require()` there,
 * which cannot load ES modules): app modules and config files may be ESM or CJS, whichever build runs.
 * Takes a URL or a package name.
 */
export const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;
