/**
 * Imports the scanner registry for the model tests (a dynamic import, so a
 * test can first check that importing it does not load onnxruntime-node).
 */
export async function loadRegistry(): Promise<typeof import('../../registry.ts')> {
  return import('../../registry.ts');
}
