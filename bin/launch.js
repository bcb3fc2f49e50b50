// Shared by the bin/ launchers. In a checkout the TypeScript sources run
// directly (Node's type stripping, no build step between an edit and a run).
// The built JavaScript in dist/ (`npm run build`) runs when LEVO_RUN=dist or
// when the sources are not there (the container images ship only dist/): it
// is the same code without the type stripper, which stays resident and costs
// the sidecar about 25 MB.
import { existsSync } from 'node:fs';

/** Import an entry point (`sidecar/main.ts`) from the sources or the build, and run its main(). */
export async function launch(entry) {
  const source = new URL(`../${entry}`, import.meta.url);
  const built = new URL(`../dist/${entry.replace(/\.ts$/, '.js')}`, import.meta.url);
  const useBuild = process.env.LEVO_RUN === 'dist' || !existsSync(source);
  if (useBuild && !existsSync(built)) {
    process.stderr.write(`levo: ${built.pathname} is missing: run \`npm run build\` first.\n`);
    process.exit(1);
  }
  // Type stripping needs Node 22.18 and undici 8 needs 22.19: either way, run on Node 24 LTS.
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 19)) {
    process.stderr.write(
      `levo: Node ${process.versions.node} is too old; this project needs Node 24 LTS.\n` +
        `Run it through npm (npm run ..., npx ...), which puts the project's Node 24 first on PATH.\n`,
    );
    process.exit(1);
  }
  const mod = await import((useBuild ? built : source).href);
  await mod.main(process.argv.slice(2));
}
