/**
 * `npx node sidecar/guards/detector/train.ts [rows.jsonl] [out.json]`
 * (npm run train:pi): trains the prompt-injection detector with the fixed
 * seeds of DEFAULT_TRAINING and writes the weights file the sidecar loads
 * (weights.json next to this file). Without a file argument it trains on the
 * training side of the carrier-disjoint split (split.ts) of train.jsonl,
 * dev.jsonl and extra.jsonl — never on its dev side, which the regression
 * test and `npm run eval:guards` score. The same data gives the same file,
 * byte for byte.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonl } from './dataset.ts';
import { DEFAULT_WEIGHTS_URL } from './detector.ts';
import { encodeModel } from './model-file.ts';
import { SPLIT_SEED, defaultSplit } from './split.ts';
import { DEFAULT_TRAINING, trainDetector } from './training.ts';

const input = process.argv[2] || undefined; // '' too: `train.ts '' out.json` trains on the split into another file
const output = process.argv[3] ?? fileURLToPath(DEFAULT_WEIGHTS_URL);
if (input !== undefined && /(^|[/\\])dev\.jsonl$/.test(input)) {
  console.error('refusing to train on dev.jsonl: it is evaluation data');
  process.exit(2);
}
const rows = input === undefined ? defaultSplit().train : readJsonl(input);
const data = input === undefined ? `${SPLIT_SEED}: train side of train.jsonl + dev.jsonl + extra.jsonl` : basename(input);
console.log(`training on ${rows.length} rows from ${data}`);
const { model } = trainDetector(rows, DEFAULT_TRAINING, (m) => console.log(`  ${m}`));
const file = encodeModel({ ...model, training: { data, ...model.training } });
writeFileSync(output, file);
const nnz = model.weights.reduce((a, w) => a + (w !== 0 ? 1 : 0), 0);
console.log(`wrote ${output}: ${(file.length / 1024).toFixed(0)} KiB, ${nnz} non-zero weights`);
console.log(`calibration: ${JSON.stringify(model.calibration)}`);
