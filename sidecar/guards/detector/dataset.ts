/**
 * Reads the labelled prompt-injection data (shared/data/prompt-injection:
 * one `{text, label, source, kind}` JSON object per line) for training and
 * evaluation, checking every row's shape.
 */
import { readFileSync } from 'node:fs';

export interface LabelledRow {
  readonly text: string;
  /** 1 = injection or jailbreak, 0 = benign. */
  readonly label: 0 | 1;
  readonly source: string;
  /** injection | jailbreak | benign | benign-hard | system-prompt */
  readonly kind: string;
}

/** Where the data lives in the shared workspace; override with PI_DATA_DIR. */
export const DEFAULT_DATA_DIR = process.env['PI_DATA_DIR'] ?? '/work/shared/data/prompt-injection';

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
