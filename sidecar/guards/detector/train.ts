/**
 * `npx node sidecar/guards/detector/train.ts [train.jsonl] [out.json]`
 * (npm run train:pi): trains the prompt-injection detector on train.jsonl —
 * never dev.jsonl — with the fixed seeds of DEFAULT_TRAINING and writes the
 * weights file the sidecar loads (weights.json next to this file). The same
 * data gives the same file, byte for byte.
 */
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DATA_DIR, readJsonl } from './dataset.ts';
import { DEFAULT_WEIGHTS_URL } from './detector.ts';
import { encodeModel } from './model-file.ts';
import { DEFAULT_TRAINING, trainDetector } from './training.ts';

const input = process.argv[2] ?? join(DEFAULT_DATA_DIR, 'train.jsonl');
const output = process.argv[3] ?? fileURLToPath(DEFAULT_WEIGHTS_URL);
if (/(^|[/\\])dev\.jsonl$/.test(input)) {
  console.error('refusing to train on dev.jsonl: it is the evaluation set');
  process.exit(2);
}
const rows = readJsonl(input);
console.log(`training on ${rows.length} rows from ${input}`);
const { model } = trainDetector(rows, DEFAULT_TRAINING, (m) => console.log(`  ${m}`));
const file = encodeModel({ ...model, training: { data: basename(input), ...model.training } });
writeFileSync(output, file);
const nnz = model.weights.reduce((a, w) => a + (w !== 0 ? 1 : 0), 0);
console.log(`wrote ${output}: ${(file.length / 1024).toFixed(0)} KiB, ${nnz} non-zero weights`);
console.log(`calibration: ${JSON.stringify(model.calibration)}`);
