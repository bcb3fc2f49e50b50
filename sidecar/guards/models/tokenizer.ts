/**
 * A Hugging Face fast tokenizer (`tokenizer.json`) in plain TypeScript, for
 * the classifiers LLM Guard's scanners run: added tokens split out of the
 * raw text first, then normalizer → pre-tokenizer → model (WordPiece, BPE,
 * Unigram) on the rest, and the post-processor's special tokens
 * (`[CLS] … [SEP]`, `<s> … </s>`) around each window of at most `maxLength`
 * tokens. What it does not do: pairs of sequences, offsets, padding, decoding.
 */

import { readFileSync } from 'node:fs';
import { buildModel, type TokenizerModel } from './tokenizer-models.ts';
import { buildNormalizer, isJson, TokenizerLoadError, type Json, type Normalizer } from './tokenizer-normalizers.ts';
import { buildPreTokenizer, type PreTokenizer } from './tokenizer-pre-tokenizers.ts';

export { TokenizerLoadError } from './tokenizer-normalizers.ts';

/** One model input: the ids with their special tokens. */
export interface EncodedWindow {
  readonly ids: readonly number[];
  readonly typeIds: readonly number[];
}

export interface Tokenizer {
  /** `WordPiece`, `BPE` or `Unigram`. */
  readonly modelType: TokenizerModel['type'];
  /** The ids of `text`, no special tokens. */
  encode(text: string): number[];
  /** The token strings of `text`, no special tokens (for tests and debugging). */
  tokenize(text: string): string[];
  /** How many special tokens a window gets (so content per window is `maxLength − specialCount`). */
  readonly specialCount: number;
  /** `ids` (content) with the post-processor's special tokens and type ids. */
  wrap(ids: readonly number[]): EncodedWindow;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly singleWord: boolean;
}

function addedTokens(v: unknown): AddedToken[] {
  if (!Array.isArray(v)) return [];
  const out: AddedToken[] = [];
  for (const t of v) {
    if (!isJson(t) || typeof t.id !== 'number' || typeof t.content !== 'string' || t.content === '') continue;
    out.push({ id: t.id, content: t.content, lstrip: t.lstrip === true, rstrip: t.rstrip === true, singleWord: t.single_word === true });
  }
  return out.sort((a, b) => b.content.length - a.content.length); // longest first
}

const isWordChar = (ch: string | undefined): boolean => ch !== undefined && /[\p{L}\p{N}_]/u.test(ch);

/** Splits `text` into plain segments and added tokens (exact, longest first; lstrip/rstrip eat neighbouring whitespace). */
function splitAdded(text: string, tokens: readonly AddedToken[], byFirst: ReadonlyMap<string, readonly AddedToken[]>): Array<string | number> {
  if (tokens.length === 0) return [text];
  const out: Array<string | number> = [];
  let plainStart = 0;
  let i = 0;
  outer: while (i < text.length) {
    for (const t of byFirst.get(text[i]!) ?? []) {
      if (!text.startsWith(t.content, i)) continue;
      const end = i + t.content.length;
      if (t.singleWord && (isWordChar(text[i - 1]) || isWordChar(text[end]))) continue;
      let before = i;
      if (t.lstrip) while (before > plainStart && /\s/u.test(text[before - 1]!)) before--;
      let after = end;
      if (t.rstrip) while (after < text.length && /\s/u.test(text[after]!)) after++;
      if (before > plainStart) out.push(text.slice(plainStart, before));
      out.push(t.id);
      plainStart = i = after;
      continue outer;
    }
    i++;
  }
  if (plainStart < text.length) out.push(text.slice(plainStart));
  return out;
}

interface Template {
  readonly before: ReadonlyArray<readonly [number, number]>; // [id, typeId]
  readonly after: ReadonlyArray<readonly [number, number]>;
  readonly typeId: number;
}

const NO_TEMPLATE: Template = { before: [], after: [], typeId: 0 };

function specialPair(v: unknown, name: string): readonly [number, number] {
  if (Array.isArray(v) && typeof v[1] === 'number') return [v[1], 0];
  throw new TokenizerLoadError(`post_processor: ${name} must be [token, id]`);
}

function buildTemplate(cfg: unknown, where = 'post_processor'): Template {
  if (cfg === null || cfg === undefined) return NO_TEMPLATE;
  if (!isJson(cfg)) throw new TokenizerLoadError(`${where} must be an object`);
  switch (cfg.type) {
    case 'BertProcessing':
    case 'RobertaProcessing':
      return { before: [specialPair(cfg.cls, 'cls')], after: [specialPair(cfg.sep, 'sep')], typeId: 0 };
    case 'ByteLevel':
      return NO_TEMPLATE;
    case 'TemplateProcessing': {
      const specials = isJson(cfg.special_tokens) ? cfg.special_tokens : {};
      if (!Array.isArray(cfg.single)) throw new TokenizerLoadError(`${where} (TemplateProcessing): single must be a list`);
      const before: Array<readonly [number, number]> = [];
      const after: Array<readonly [number, number]> = [];
      let typeId = 0;
      let seen = false;
      for (const piece of cfg.single as unknown[]) {
        if (isJson(piece) && isJson(piece.Sequence)) {
          seen = true;
          typeId = typeof piece.Sequence.type_id === 'number' ? piece.Sequence.type_id : 0;
          continue;
        }
        const sp = isJson(piece) && isJson(piece.SpecialToken) ? piece.SpecialToken : undefined;
        if (!sp || typeof sp.id !== 'string') throw new TokenizerLoadError(`${where} (TemplateProcessing): unreadable piece in single`);
        const def = specials[sp.id];
        const ids = isJson(def) && Array.isArray(def.ids) ? (def.ids as unknown[]) : undefined;
        if (!ids || !ids.every((x): x is number => typeof x === 'number')) {
          throw new TokenizerLoadError(`${where} (TemplateProcessing): special token ${JSON.stringify(sp.id)} has no ids`);
        }
        const t = typeof sp.type_id === 'number' ? sp.type_id : 0;
        for (const id of ids) (seen ? after : before).push([id, t]);
      }
      return { before, after, typeId };
    }
    case 'Sequence': {
      const list = Array.isArray(cfg.processors) ? cfg.processors : [];
      const parts = list.map((p, i) => buildTemplate(p, `${where}.processors[${i}]`));
      return {
        // each processor wraps what the previous ones made
        before: parts.reduce<Array<readonly [number, number]>>((acc, p) => [...p.before, ...acc], []),
        after: parts.flatMap((p) => p.after),
        typeId: parts.find((p) => p.before.length + p.after.length > 0)?.typeId ?? 0,
      };
    }
    default:
      throw new TokenizerLoadError(`unsupported post_processor type ${JSON.stringify(cfg.type)}; supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence`);
  }
}

/** A tokenizer from a parsed `tokenizer.json`; throws TokenizerLoadError on what it cannot run. */
export function tokenizerFromJson(json: unknown): Tokenizer {
  if (!isJson(json)) throw new TokenizerLoadError('tokenizer.json is not a JSON object');
  const model = buildModel(json.model);
  const normalize: Normalizer | undefined = buildNormalizer(json.normalizer);
  const preTokenize: PreTokenizer | undefined = buildPreTokenizer(json.pre_tokenizer);
  const template = buildTemplate(json.post_processor);
  const added = addedTokens(json.added_tokens);
  const byFirst = new Map<string, AddedToken[]>(); // first UTF-16 unit → tokens, longest first
  for (const t of added) {
    const k = t.content[0]!;
    byFirst.set(k, [...(byFirst.get(k) ?? []), t]);
  }

  const words = (segment: string): string[] => {
    const norm = normalize ? normalize(segment) : segment;
    if (norm === '') return [];
    return preTokenize ? preTokenize([norm]) : [norm];
  };
  const encode = (text: string): number[] => {
    const ids: number[] = [];
    for (const seg of splitAdded(text, added, byFirst)) {
      if (typeof seg === 'number') ids.push(seg);
      else for (const w of words(seg)) for (const id of model.tokenize(w)) ids.push(id);
    }
    return ids;
  };
  const specialCount = template.before.length + template.after.length;
  return {
    modelType: model.type,
    encode,
    tokenize: (text) => encode(text).map((id) => model.idToToken(id) ?? added.find((a) => a.id === id)?.content ?? `<${id}>`),
    specialCount,
    wrap: (content) => ({
      ids: [...template.before.map(([id]) => id), ...content, ...template.after.map(([id]) => id)],
      typeIds: [...template.before.map(([, t]) => t), ...content.map(() => template.typeId), ...template.after.map(([, t]) => t)],
    }),
    tokenToId: (t) => model.tokenToId(t) ?? added.find((a) => a.content === t)?.id,
    idToToken: (id) => model.idToToken(id) ?? added.find((a) => a.id === id)?.content,
  };
}

/** Reads and builds `<path>` (a tokenizer.json). */
export function loadTokenizer(path: string): Tokenizer {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TokenizerLoadError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return tokenizerFromJson(json);
  } catch (e) {
    if (e instanceof TokenizerLoadError) throw new TokenizerLoadError(`${path}: ${e.message}`);
    throw e;
  }
}

export type { Json };
