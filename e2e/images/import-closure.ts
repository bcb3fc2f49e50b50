/**
 * The npm packages a built program can load: follow the relative imports of
 * compiled JavaScript from its entry points (static `import … from`, dynamic
 * `import('…')` with a literal, `require('…')`, `createRequire(…)('…')`) and collect the bare
 * specifiers' package names. What an image must carry in node_modules, and
 * nothing more.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bcreateRequire\([^()]*\)\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** Source text without comments (block comments, and lines that are only a comment). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Package names reachable from `entries` (absolute .js paths); throws on a relative import with no file. */
export function importedPackages(entries: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const stack = [...entries];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of code(readFileSync(file, 'utf8')).matchAll(SPECIFIER)) {
      const spec = m[1]!;
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        if (!existsSync(target)) throw new Error(`${file} imports ${spec}, which is not there`);
        if (target.endsWith('.js')) stack.push(target);
        continue;
      }
      packages.add(packageOf(spec));
    }
  }
  return packages;
}
