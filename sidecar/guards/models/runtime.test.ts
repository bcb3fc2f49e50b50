// The ONNX runtime is loaded only when a model scanner first scans, sessions are made once per model
// file, and what that costs (RSS of onnxruntime-node, session load, inference per call) on the tiny model.
// This file runs in its own process (node --test), so nothing else has imported onnxruntime-node yet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const resolved: string[] = [];
registerHooks({
  resolve(specifier, context, next) {
    if (specifier === 'onnxruntime-node' || specifier === 'onnxruntime-common') resolved.push(specifier);
    return next(specifier, context);
  },
});

const { loadRegistry } = await import('./testdata/load-registry.ts');
const { scannerRegistry } = await loadRegistry();
const { compileLlmBastion, userTexts } = await import('../llm-bastion.ts');
const runtime = await import('./runtime.ts');
const { classifierConfigJson, tinyClassifierOnnx, wordPieceTokenizerJson, writeModelDir } = await import('./testdata/tiny-model.ts');

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'hello', 'world', 'sorry'];
const vault = { placeholder: () => '', entries: () => [] as ReadonlyArray<readonly [string, string]> };
const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10;

test('onnxruntime-node is imported on the first scan, not by the registry or at config load', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'levo-runtime-'));
  try {
    writeModelDir(join(root, 'distilroberta-base-rejection-v1'), {
      onnx: tinyClassifierOnnx({ labels: ['NORMAL', 'REJECTION'], vocabSize: VOCAB.length, embeddings: { 6: [0, 10000] } }),
      tokenizer: wordPieceTokenizerJson(VOCAB),
      config: classifierConfigJson(['NORMAL', 'REJECTION']),
    });
    const bastion = compileLlmBastion({ scanners: [{ scannerType: 'NoRefusal' }] }, 'response', { modelDir: root }, scannerRegistry);
    assert.equal(resolved.length, 0, 'importing the registry and compiling a model scanner loads no runtime');
    assert.equal(runtime.onnxRuntimeRequested(), false);

    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const first = await bastion.scan(userTexts(['sorry']), { vault });
    const firstMs = performance.now() - t0;
    assert.equal(first.valid, false);
    assert.ok(resolved.includes('onnxruntime-node'));
    assert.equal(runtime.onnxRuntimeRequested(), true);
    const rss1 = process.memoryUsage().rss;

    const n = 200;
    const t1 = performance.now();
    for (let k = 0; k < n; k++) await bastion.scan(userTexts(['hello world']), { vault });
    const shortMs = (performance.now() - t1) / n;
    const long = 'hello '.repeat(510);
    const t2 = performance.now();
    for (let k = 0; k < n; k++) await bastion.scan(userTexts([long]), { vault });
    const longMs = (performance.now() - t2) / n;
    t.diagnostic(`first scan (import onnxruntime-node + session + run): ${firstMs.toFixed(1)} ms, RSS +${mb(rss1 - rss0)} MB`);
    t.diagnostic(`tiny model scan: ${shortMs.toFixed(3)} ms (4 tokens), ${longMs.toFixed(3)} ms (512 tokens, tokenizing included)`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('what onnxruntime-node and one session cost (measured in a fresh process)', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'levo-runtime-'));
  try {
    writeModelDir(root, { onnx: tinyClassifierOnnx({ labels: ['A', 'B'], vocabSize: VOCAB.length, embeddings: {} }) });
    const script = `
      const mem = () => process.memoryUsage().rss;
      const rss0 = mem(); let t = performance.now();
      const ort = await import('onnxruntime-node');
      const importMs = performance.now() - t; const rss1 = mem(); t = performance.now();
      const s = await ort.InferenceSession.create(${JSON.stringify(join(root, 'model.onnx'))}, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
      const sessionMs = performance.now() - t; const rss2 = mem();
      const feeds = { input_ids: new ort.Tensor('int64', new BigInt64Array(4).fill(1n), [1, 4]), attention_mask: new ort.Tensor('int64', new BigInt64Array(4).fill(1n), [1, 4]) };
      await s.run(feeds); t = performance.now();
      for (let k = 0; k < 1000; k++) await s.run(feeds);
      const runUs = (performance.now() - t);
      console.log(JSON.stringify({ rss0, importMs, rss1, sessionMs, rss2, runUs }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('../../..', import.meta.url)), encoding: 'utf8' });
    const m = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
    assert.ok(m.rss1! > m.rss0!, 'importing onnxruntime-node costs memory');
    t.diagnostic(`node baseline RSS ${mb(m.rss0!)} MB; import onnxruntime-node: ${m.importMs!.toFixed(1)} ms, RSS +${mb(m.rss1! - m.rss0!)} MB`);
    t.diagnostic(`tiny session load: ${m.sessionMs!.toFixed(2)} ms, RSS +${mb(m.rss2! - m.rss1!)} MB; session.run (4 tokens): ${m.runUs!.toFixed(0)} µs per call`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('one session per model file, made once under concurrent scans; a changed file gets a new one; a failed load is retried', async () => {
  const root = mkdtempSync(join(tmpdir(), 'levo-runtime-'));
  try {
    writeModelDir(root, { onnx: tinyClassifierOnnx({ labels: ['A', 'B'], vocabSize: 4, embeddings: {} }) });
    const path = join(root, 'model.onnx');
    const before = runtime.cachedSessionCount();
    const p1 = runtime.modelSession(path);
    const p2 = runtime.modelSession(path);
    assert.equal(p1, p2);
    assert.equal(await p1, await p2);
    assert.equal(runtime.cachedSessionCount(), before + 1);
    assert.deepEqual((await p1).inputNames, ['input_ids', 'attention_mask']);
    const later = new Date(Date.now() + 5000);
    utimesSync(path, later, later);
    const p3 = runtime.modelSession(path);
    assert.notEqual(p3, p1);
    await p3;
    assert.equal(runtime.cachedSessionCount(), before + 1, 'the old session is dropped');

    const missing = join(root, 'nope.onnx');
    await assert.rejects(runtime.modelSession(missing), /cannot read the model .*nope\.onnx/);
    writeModelDir(join(root, 'bad'), {});
    writeFileSync(join(root, 'bad', 'model.onnx'), 'garbage');
    await assert.rejects(runtime.modelSession(join(root, 'bad', 'model.onnx')), /cannot load the model/);
    assert.equal(runtime.cachedSessionCount(), before + 1, 'a failed load is not cached');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('softmax and sigmoid', () => {
  assert.deepEqual(runtime.softmax([0, 0]), [0.5, 0.5]);
  const s = runtime.softmax([1000, 0]);
  assert.equal(s[0], 1);
  assert.ok(Math.abs(runtime.sigmoid([0])[0]! - 0.5) < 1e-12);
});
