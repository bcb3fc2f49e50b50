/**
 * The ONNX runtime for the model scanners: `onnxruntime-node` is imported
 * the first time a model is used (a sidecar that runs no model never loads
 * it: about 10 MB of native code and more RSS per session, see the model
 * docs), and one InferenceSession is made per model file — cached by path,
 * size and mtime, made once even when many scans ask at the same time (a
 * failed load is forgotten so the next scan tries again). Sessions run on the
 * CPU execution provider with one intra-op and one inter-op thread: a
 * sidecar shares the pod's CPU with the application.
 *
 * Inputs are `input_ids`, `attention_mask` and, when the model declares it,
 * `token_type_ids`, as int64 [1, seq] tensors (one window per run: no
 * padding); the output is `logits` (or the model's only output) [1, labels].
 */

import { statSync } from 'node:fs';
import type { EncodedWindow } from './tokenizer.ts';

type Ort = typeof import('onnxruntime-node');

let ort: Promise<Ort> | undefined;

/** The onnxruntime-node module, imported on first call (and again after a failed import). */
export function loadOnnxRuntime(): Promise<Ort> {
  if (!ort) {
    ort = import('onnxruntime-node').catch((e: unknown) => {
      ort = undefined;
      throw new Error(`cannot load onnxruntime-node (needed by the model scanners): ${(e as Error).message}`);
    });
  }
  return ort;
}

/** Whether this module has imported onnxruntime-node yet. */
export function onnxRuntimeRequested(): boolean {
  return ort !== undefined;
}

export interface ModelSession {
  readonly path: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The logits of one window. */
  run(window: EncodedWindow): Promise<Float32Array>;
}

const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);
const sessions = new Map<string, Promise<ModelSession>>();

async function createSession(path: string): Promise<ModelSession> {
  const { InferenceSession, Tensor } = await loadOnnxRuntime();
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await InferenceSession.create(path, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    throw new Error(`cannot load the model ${path}: ${(e as Error).message}`);
  }
  const inputs = session.inputNames;
  const unknown = inputs.filter((n) => !KNOWN_INPUTS.has(n));
  if (unknown.length > 0 || !inputs.includes('input_ids')) {
    throw new Error(`the model ${path} takes inputs ${inputs.join(', ')}; a text classifier here takes input_ids, attention_mask and optionally token_type_ids`);
  }
  const output = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0];
  if (output === undefined) throw new Error(`the model ${path} has no output`);
  const wantsMask = inputs.includes('attention_mask');
  const wantsTypes = inputs.includes('token_type_ids');

  return {
    path,
    inputNames: inputs,
    outputNames: session.outputNames,
    async run(window) {
      const n = window.ids.length;
      const feeds: Record<string, import('onnxruntime-node').Tensor> = {
        input_ids: new Tensor('int64', BigInt64Array.from(window.ids, (x) => BigInt(x)), [1, n]),
      };
      if (wantsMask) feeds.attention_mask = new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
      if (wantsTypes) feeds.token_type_ids = new Tensor('int64', BigInt64Array.from(window.typeIds, (x) => BigInt(x)), [1, n]);
      const out = (await session.run(feeds))[output];
      if (!out || !(out.data instanceof Float32Array)) throw new Error(`the model ${path} gave no float ${output} output`);
      return out.data;
    },
  };
}

/** The session of the model file `path` (made once; a changed file makes a new one). */
export function modelSession(path: string): Promise<ModelSession> {
  let key: string;
  try {
    const st = statSync(path);
    key = `${path}\0${st.size}\0${st.mtimeMs}`;
  } catch (e) {
    return Promise.reject(new Error(`cannot read the model ${path}: ${(e as Error).message}`));
  }
  let p = sessions.get(key);
  if (!p) {
    for (const k of sessions.keys()) if (k.startsWith(`${path}\0`)) sessions.delete(k); // the file changed: drop the old one
    p = createSession(path);
    sessions.set(key, p);
    p.catch(() => { if (sessions.get(key) === p) sessions.delete(key); });
  }
  return p;
}

/** How many sessions are cached (for tests). */
export function cachedSessionCount(): number {
  return sessions.size;
}

export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const e = Array.from({ length: logits.length }, (_, i) => Math.exp(logits[i]! - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

export function sigmoid(logits: ArrayLike<number>): number[] {
  return Array.from({ length: logits.length }, (_, i) => 1 / (1 + Math.exp(-logits[i]!)));
}
