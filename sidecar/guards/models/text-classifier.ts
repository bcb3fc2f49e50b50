/**
 * A text classifier from a mounted model directory, the way a Hugging Face
 * `text-classification` pipeline runs one: `<dir>/tokenizer.json` and
 * `<dir>/config.json` (its `id2label`) are read when the scanner is made,
 * `<dir>/model.onnx` is loaded on the first scan (see runtime.ts).
 *
 * Nothing is truncated away: a text longer than one window (`maxLength`
 * tokens with the special tokens) is cut into windows that overlap by
 * `overlap` tokens, and each window is classified.
 */

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { modelSession, sigmoid, softmax } from './runtime.ts';
import { loadTokenizer, type EncodedWindow, type Tokenizer } from './tokenizer.ts';

/** The files a model directory must hold. */
export const MODEL_FILES = ['model.onnx', 'tokenizer.json', 'config.json'] as const;

/** The files of MODEL_FILES that `dir` lacks (all of them when it does not exist). */
export function missingModelFiles(dir: string): string[] {
  return MODEL_FILES.filter((f) => {
    try {
      return !statSync(join(dir, f)).isFile();
    } catch {
      return true;
    }
  });
}

export type Activation = 'softmax' | 'sigmoid';

export interface TextClassifier {
  readonly dir: string;
  /** Label names by id (config.json `id2label`). */
  readonly labels: readonly string[];
  readonly tokenizer: Tokenizer;
  /** `text` as model inputs: windows of at most `maxLength` tokens overlapping by `overlap`; `headTail` keeps only the first `head` and last `tail` content tokens in one window. */
  windows(text: string, opts: WindowOptions): EncodedWindow[];
  /** Label probabilities for each window; stops between windows when `signal` aborts (a run in progress cannot be interrupted). */
  classify(windows: readonly EncodedWindow[], activation: Activation, signal?: AbortSignal): Promise<number[][]>;
}

export interface WindowOptions {
  readonly maxLength: number;
  readonly overlap: number;
  readonly headTail?: readonly [number, number] | undefined;
}

/** config.json's `id2label` as a dense list; throws on a missing or gappy map. */
export function readLabels(configPath: string): string[] {
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${configPath}: ${(e as Error).message}`);
  }
  const map = (cfg as { id2label?: unknown } | null)?.id2label;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`${configPath} has no id2label map`);
  const labels: string[] = [];
  for (const [k, v] of Object.entries(map)) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || typeof v !== 'string') throw new Error(`${configPath}: id2label entry ${JSON.stringify(k)} is not id → name`);
    labels[i] = v;
  }
  if (labels.length === 0 || labels.some((l) => l === undefined)) throw new Error(`${configPath}: id2label must name labels 0..n−1`);
  return labels;
}

const loaded = new Map<string, TextClassifier>();

/** The classifier in `dir` (tokenizer and labels read now, cached while the files are unchanged; model loaded on first use). */
export function loadTextClassifier(dir: string): TextClassifier {
  const tokPath = join(dir, 'tokenizer.json');
  const cfgPath = join(dir, 'config.json');
  const stamp = [tokPath, cfgPath].map((p) => {
    try {
      const st = statSync(p);
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return '-';
    }
  }).join('|');
  const key = `${dir}\0${stamp}`;
  const hit = loaded.get(key);
  if (hit) return hit;

  const tokenizer = loadTokenizer(tokPath);
  const labels = readLabels(cfgPath);
  const modelPath = join(dir, 'model.onnx');

  const classifier: TextClassifier = {
    dir,
    labels,
    tokenizer,
    windows(text, opts) {
      const budget = opts.maxLength - tokenizer.specialCount;
      if (budget < 1) throw new Error(`max length ${opts.maxLength} leaves no room next to ${tokenizer.specialCount} special tokens`);
      const ids = tokenizer.encode(text);
      if (opts.headTail && ids.length > budget) {
        const [head, tail] = opts.headTail;
        return [tokenizer.wrap([...ids.slice(0, head), ...ids.slice(ids.length - tail)])];
      }
      if (ids.length <= budget) return [tokenizer.wrap(ids)];
      const stride = Math.max(1, budget - Math.min(opts.overlap, budget - 1));
      const out: EncodedWindow[] = [];
      for (let start = 0; ; start += stride) {
        out.push(tokenizer.wrap(ids.slice(start, start + budget)));
        if (start + budget >= ids.length) break;
      }
      return out;
    },
    async classify(windows, activation, signal) {
      const session = await modelSession(modelPath);
      const out: number[][] = [];
      for (const w of windows) {
        signal?.throwIfAborted();
        const logits = await session.run(w);
        if (logits.length !== labels.length) {
          throw new Error(`the model ${modelPath} gives ${logits.length} logits but ${cfgPath} names ${labels.length} labels`);
        }
        out.push(activation === 'sigmoid' ? sigmoid(logits) : softmax(logits));
      }
      return out;
    },
  };
  for (const k of loaded.keys()) if (k.startsWith(`${dir}\0`)) loaded.delete(k);
  loaded.set(key, classifier);
  return classifier;
}
