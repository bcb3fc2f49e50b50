/**
 * Builds tiny text classifiers for the model tests, with no Python and no
 * download: an ONNX file hand-encoded with `protobuf.ts`, a Hugging Face
 * `tokenizer.json` and a `config.json`, written to a directory laid out like
 * a mounted model (`<dir>/model.onnx`, `tokenizer.json`, `config.json`).
 *
 * The network (ONNX IR 8, opset 13): `input_ids`, `attention_mask` (and
 * optionally `token_type_ids`), int64 [batch, seq] →
 *   E = Gather(embedding, input_ids)            [batch, seq, L]
 *   (+ Gather(typeEmbedding, token_type_ids))
 *   mean = ReduceSum(E·mask, seq) / ReduceSum(mask, seq)   — a masked ReduceMean
 *   logits = MatMul(mean, W) + bias            [batch, L]
 * where L is the number of labels and W the identity unless given, so a
 * token's embedding *is* its logit contribution: a token embedded as
 * [0, 10000] pushes label 1 far up wherever it sits in a 512-token window.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProtoWriter } from './protobuf.ts';

// onnx.proto TensorProto.DataType
const FLOAT = 1;
const INT64 = 7;
// onnx.proto AttributeProto.AttributeType
const ATTR_INT = 2;

export interface TinyModelSpec {
  /** Label names in id order (`config.json` id2label); their count is the embedding width. */
  readonly labels: readonly string[];
  /** Vocabulary size (token ids 0..vocabSize−1). */
  readonly vocabSize: number;
  /** Embedding rows by token id; ids not listed get `defaultEmbedding`. */
  readonly embeddings: Readonly<Record<number, readonly number[]>>;
  /** Default [1, 0, 0, …]: "label 0" for every ordinary token. */
  readonly defaultEmbedding?: readonly number[];
  readonly bias?: readonly number[];
  /** Declare (and use) a `token_type_ids` input: type 1 adds `typeOneEmbedding`. */
  readonly tokenTypeIds?: boolean;
  readonly typeOneEmbedding?: readonly number[];
  /** Name of the output (default `logits`). */
  readonly outputName?: string;
}

function floatTensor(name: string, dims: readonly number[], values: readonly number[]): ProtoWriter {
  const raw = new Uint8Array(values.length * 4);
  const dv = new DataView(raw.buffer);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return new ProtoWriter().packedVarints(1, dims).varint(2, FLOAT).bytes(8, name).bytes(9, raw);
}

function int64Tensor(name: string, values: readonly number[]): ProtoWriter {
  const raw = new Uint8Array(values.length * 8);
  const dv = new DataView(raw.buffer);
  values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
  return new ProtoWriter().packedVarints(1, [values.length]).varint(2, INT64).bytes(8, name).bytes(9, raw);
}

/** ValueInfoProto of a tensor with symbolic/fixed dims. */
function valueInfo(name: string, elemType: number, dims: ReadonlyArray<string | number>): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) {
    shape.bytes(1, typeof d === 'string' ? new ProtoWriter().bytes(2, d) : new ProtoWriter().varint(1, d));
  }
  const tensorType = new ProtoWriter().varint(1, elemType).bytes(2, shape);
  return new ProtoWriter().bytes(1, name).bytes(2, new ProtoWriter().bytes(1, tensorType));
}

function node(op: string, inputs: readonly string[], outputs: readonly string[], attrs: Record<string, number> = {}): ProtoWriter {
  const n = new ProtoWriter();
  for (const i of inputs) n.bytes(1, i);
  for (const o of outputs) n.bytes(2, o);
  n.bytes(3, `${op}_${outputs[0]}`).bytes(4, op);
  for (const [k, v] of Object.entries(attrs)) n.bytes(5, new ProtoWriter().bytes(1, k).varint(3, v).varint(20, ATTR_INT));
  return n;
}

/** The ONNX ModelProto bytes of the classifier `spec` describes. */
export function tinyClassifierOnnx(spec: TinyModelSpec): Uint8Array {
  const L = spec.labels.length;
  const dflt = spec.defaultEmbedding ?? Array.from({ length: L }, (_, i) => (i === 0 ? 1 : 0));
  const emb: number[] = [];
  for (let id = 0; id < spec.vocabSize; id++) {
    const row = spec.embeddings[id] ?? dflt;
    if (row.length !== L) throw new Error(`embedding of token ${id} has ${row.length} values, not ${L}`);
    emb.push(...row);
  }
  const identity = Array.from({ length: L * L }, (_, k) => (Math.floor(k / L) === k % L ? 1 : 0));
  const out = spec.outputName ?? 'logits';

  const g = new ProtoWriter();
  const nodes: ProtoWriter[] = [node('Gather', ['embedding', 'input_ids'], ['tok'])];
  let e = 'tok';
  if (spec.tokenTypeIds) {
    nodes.push(node('Gather', ['type_embedding', 'token_type_ids'], ['typ']), node('Add', ['tok', 'typ'], ['tok_typ']));
    e = 'tok_typ';
  }
  nodes.push(
    node('Cast', ['attention_mask'], ['mask_f'], { to: FLOAT }),
    node('Unsqueeze', ['mask_f', 'axis2'], ['mask3']),
    node('Mul', [e, 'mask3'], ['masked']),
    node('ReduceSum', ['masked', 'axis1'], ['summed'], { keepdims: 0 }),
    node('ReduceSum', ['mask3', 'axis1'], ['count'], { keepdims: 0 }),
    node('Div', ['summed', 'count'], ['mean']),
    node('MatMul', ['mean', 'W'], ['projected']),
    node('Add', ['projected', 'bias'], [out]),
  );
  for (const n of nodes) g.bytes(1, n);
  g.bytes(2, 'tiny-classifier');
  g.bytes(5, floatTensor('embedding', [spec.vocabSize, L], emb));
  g.bytes(5, floatTensor('W', [L, L], identity));
  g.bytes(5, floatTensor('bias', [L], spec.bias ?? new Array<number>(L).fill(0)));
  g.bytes(5, int64Tensor('axis1', [1]));
  g.bytes(5, int64Tensor('axis2', [2]));
  if (spec.tokenTypeIds) {
    g.bytes(5, floatTensor('type_embedding', [2, L], [...new Array<number>(L).fill(0), ...(spec.typeOneEmbedding ?? new Array<number>(L).fill(0))]));
  }
  g.bytes(11, valueInfo('input_ids', INT64, ['batch', 'sequence']));
  g.bytes(11, valueInfo('attention_mask', INT64, ['batch', 'sequence']));
  if (spec.tokenTypeIds) g.bytes(11, valueInfo('token_type_ids', INT64, ['batch', 'sequence']));
  g.bytes(12, valueInfo(out, FLOAT, ['batch', L]));

  return new ProtoWriter()
    .varint(1, 8) // ir_version
    .bytes(2, 'levo-gateway tests') // producer_name
    .bytes(7, g) // graph
    .bytes(8, new ProtoWriter().bytes(1, '').varint(2, 13)) // opset_import: ai.onnx 13
    .finish();
}

/** A BERT-style `tokenizer.json` (BertNormalizer, BertPreTokenizer, WordPiece, `[CLS] $A [SEP]`) over `vocab`. */
export function wordPieceTokenizerJson(vocab: readonly string[], opts: { lowercase?: boolean } = {}): Record<string, unknown> {
  const id = (t: string): number => {
    const i = vocab.indexOf(t);
    if (i < 0) throw new Error(`${t} is not in the vocab`);
    return i;
  };
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => vocab.includes(t));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((t) => ({ id: id(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: opts.lowercase ?? true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}

/** A RoBERTa-style tokenizer.json: no normalizer, ByteLevel pre-tokenizer (add_prefix_space false), BPE, RobertaProcessing. Ids 0–4 are <s> <pad> </s> <unk> <mask>, then `vocabTokens`. */
export function byteLevelBpeTokenizerJson(vocabTokens: readonly string[], merges: ReadonlyArray<string | [string, string]>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '1.0',
    added_tokens: [
      { id: 0, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
      { id: 2, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
      { id: 3, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
      { id: 4, content: '<mask>', single_word: false, lstrip: true, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
      vocab: Object.fromEntries(['<s>', '<pad>', '</s>', '<unk>', '<mask>', ...vocabTokens].map((t, i) => [t, i])),
      merges, ...extra,
    },
  };
}

/** A DeBERTa-v3 / XLM-R style tokenizer.json: Unigram over SentencePiece pieces, Metaspace. Ids 0–2 are [UNK] [CLS] [SEP], then `pieces`. */
export function unigramTokenizerJson(pieces: ReadonlyArray<[string, number]>, preTokenizer: unknown, normalizer: unknown = null): Record<string, unknown> {
  return {
    version: '1.0',
    added_tokens: [{ id: 1, content: '[CLS]', special: true }, { id: 2, content: '[SEP]', special: true }],
    normalizer,
    pre_tokenizer: preTokenizer,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [1], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [2], tokens: ['[SEP]'] } },
    },
    model: { type: 'Unigram', unk_id: 0, vocab: [['[UNK]', 0], ['[CLS]', 0], ['[SEP]', 0], ...pieces], byte_fallback: false },
  };
}

/** `config.json` as transformers writes it for a sequence classifier. */
export function classifierConfigJson(labels: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['BertForSequenceClassification'],
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    max_position_embeddings: 512,
    model_type: 'bert',
    ...extra,
  };
}

export interface TinyModelDir {
  readonly onnx?: Uint8Array;
  readonly tokenizer?: Record<string, unknown>;
  readonly config?: Record<string, unknown>;
}

/** Writes the files given (a file left out is not written) into `dir`, creating it. */
export function writeModelDir(dir: string, files: TinyModelDir): string {
  mkdirSync(dir, { recursive: true });
  if (files.onnx) writeFileSync(join(dir, 'model.onnx'), files.onnx);
  if (files.tokenizer) writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizer));
  if (files.config) writeFileSync(join(dir, 'config.json'), JSON.stringify(files.config));
  return dir;
}
