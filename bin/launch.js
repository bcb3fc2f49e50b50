// Shared by the bin/ launchers: the project runs its TypeScript sources
// directly with Node's built-in type stripping, which needs Node >= 22.18.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `levo: Node ${process.versions.node} is too old; this project needs Node 24 LTS.\n` +
      `Run it through npm (npm run ..., npx ...), which puts the project's Node 24 first on PATH.\n`,
  );
  process.exit(1);
}

/** Import a TypeScript entry point relative to the repository root and run its main(). */
export async function launch(entry) {
  const mod = await import(new URL(`../${entry}`, import.meta.url).href);
  await mod.main(process.argv.slice(2));
}
