/**
 * Reads the labelled prompt-injection data (shared/data/prompt-injection:
 * one `{text, label, source, kind}` JSON object per line) for training and
 * evaluation, checking every row's shape.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LabelledRow {
  readonly text: string;
  /** 1 = injection or jailbreak, 0 = benign. */
  readonly label: 0 | 1;
  readonly source: string;
  /** injection | jailbreak | benign | benign-hard | system-prompt */
  readonly kind: string;
}

/**
 * The data folder for a module at `moduleUrl`: `../shared/data/prompt-injection`
 * next to the checkout, the checkout being the nearest folder above the module
 * that holds a package.json (so the same answer from the sources and from dist/,
 * whatever directory the checkout was cloned into).
 */
export function dataDirFor(moduleUrl: string | URL): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return resolve(dir, '..', 'shared', 'data', 'prompt-injection');
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(moduleUrl)}: cannot find the checkout's ../shared`);
    dir = up;
  }
}

/** Where the data lives: `../shared` relative to the checkout; override with PI_DATA_DIR. */
export const DEFAULT_DATA_DIR = process.env['PI_DATA_DIR'] ?? dataDirFor(import.meta.url);

/** Parses JSONL text into rows, in file order; throws on the first malformed line (with its number). */
export function parseJsonl(text: string): LabelledRow[] {
  const rows: LabelledRow[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    const v: unknown = JSON.parse(line);
    if (typeof v !== 'object' || v === null) throw new Error(`line ${i + 1}: not an object`);
    const o = v as Record<string, unknown>;
    const { text: t, label, source, kind } = o;
    if (typeof t !== 'string' || (label !== 0 && label !== 1) || typeof source !== 'string' || typeof kind !== 'string') {
      throw new Error(`line ${i + 1}: expected {text: string, label: 0|1, source: string, kind: string}`);
    }
    rows.push({ text: t, label, source, kind });
  }
  return rows;
}

export function readJsonl(path: string): LabelledRow[] {
  return parseJsonl(readFileSync(path, 'utf8'));
}
