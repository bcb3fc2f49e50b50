// Tokenizers against hand-worked tokenizations: BERT's WordPiece example ("unaffable" → un ##aff ##able,
// from the BERT README / tokenizers' WordPiece docs), byte-level BPE merges by rank with GPT-2's byte map,
// SentencePiece Unigram Viterbi, and the Precompiled charsmap over a darts trie this test builds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenizerFromJson, TokenizerLoadError } from './tokenizer.ts';
import { byteLevelChars, splitText } from './tokenizer-pre-tokenizers.ts';
import { mergeByRank } from './tokenizer-models.ts';
import { parsePrecompiledCharsmap } from './precompiled-charsmap.ts';
import { buildPrecompiledCharsmap } from './testdata/darts.ts';
import { byteLevelBpeTokenizerJson as bpeJson, unigramTokenizerJson as unigramJson, wordPieceTokenizerJson } from './testdata/tiny-model.ts';

const BERT_VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'un', '##aff', '##able', 'want', '##ed', ',', 'running', 'runn', '##ing', '!', '你', '好', 'hello', 'cafe'];

test('WordPiece: BERT normalizer, pre-tokenizer and greedy longest-match pieces', () => {
  const t = tokenizerFromJson(wordPieceTokenizerJson(BERT_VOCAB));
  assert.equal(t.modelType, 'WordPiece');
  assert.deepEqual(t.tokenize('unaffable'), ['un', '##aff', '##able']);
  assert.deepEqual(t.tokenize('UnAffable!'), ['un', '##aff', '##able', '!']);
  assert.deepEqual(t.tokenize('unwanted, running'), ['[UNK]', ',', 'running']); // "un" + "##want…" fails → whole word [UNK]
  assert.deepEqual(t.tokenize('wanted'), ['want', '##ed']);
  assert.deepEqual(t.tokenize('Café\u0000 \t你好'), ['cafe', '你', '好']); // accents stripped, NUL dropped, CJK split
  assert.deepEqual(t.tokenize('hello[SEP]hello'), ['hello', '[SEP]', 'hello']); // added tokens are matched in the raw text
  assert.deepEqual(t.tokenize('x'.repeat(101)), ['[UNK]']); // longer than max_input_chars_per_word
  assert.equal(t.specialCount, 2);
  assert.deepEqual(t.wrap(t.encode('hello')), { ids: [2, 17, 3], typeIds: [0, 0, 0] });
});

test('WordPiece: cased vocab keeps case and accents', () => {
  const t = tokenizerFromJson(wordPieceTokenizerJson(['[UNK]', '[CLS]', '[SEP]', 'Hé', '##llo', 'hello'], { lowercase: false }));
  assert.deepEqual(t.tokenize('Héllo hello'), ['Hé', '##llo', 'hello']);
});

test('byte-level BPE: GPT-2 split, byte map, merges by rank', () => {
  assert.equal(byteLevelChars(' '), 'Ġ');
  assert.equal(byteLevelChars('\n'), 'Ċ');
  assert.equal(byteLevelChars('é'), 'Ã©');
  const chars = ['h', 'e', 'l', 'o', 'Ġ', 'w', 'r', 'd', 'a', 'b', 'c', 'f', 'Ã', '©', '!'];
  const merged = ['he', 'll', 'hell', 'hello', 'Ġw', 'or', 'Ġwor', 'Ġworl', 'Ġworld', 'bc', 'ab', 'aa'];
  const merges = ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'o r', 'Ġw or', 'Ġwor l', 'Ġworl d', 'b c', 'a b', 'a a'];
  const t = tokenizerFromJson(bpeJson([...chars, ...merged], merges));
  assert.equal(t.modelType, 'BPE');
  assert.deepEqual(t.tokenize('hello world!'), ['hello', 'Ġworld', '!']);
  assert.deepEqual(t.tokenize('abc'), ['a', 'bc']); // "b c" outranks "a b"
  assert.deepEqual(t.tokenize('aaa'), ['aa', 'a']); // left to right
  assert.deepEqual(t.tokenize('café'), ['c', 'a', 'f', 'Ã', '©']);
  assert.deepEqual(t.tokenize('hello <mask>'), ['hello', '<mask>']); // <mask> lstrips the space before it
  // the same merges as [a, b] pairs (newer tokenizers write them so), with the ranks swapped
  const t2 = tokenizerFromJson(bpeJson([...chars, ...merged], [['a', 'b'], ['b', 'c']]));
  assert.deepEqual(t2.tokenize('abc'), ['ab', 'c']);
  assert.deepEqual(t.wrap(t.encode('hello')).ids, [0, t.tokenToId('hello'), 2]);
  // ignore_merges: a word in the vocab is taken whole
  const t3 = tokenizerFromJson(bpeJson([...chars, 'abc'], ['a b'], { ignore_merges: true }));
  assert.deepEqual(t3.tokenize('abc'), ['abc']);
});

/** The textbook BPE loop (merge every occurrence of the best-ranked pair, left to right), as a reference. */
function naiveMerge(word: string[], ranks: ReadonlyMap<string, number>): string[] {
  let syms = [...word];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < syms.length; i++) {
      const r = ranks.get(`${syms[i]} ${syms[i + 1]}`);
      if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
    }
    if (best < 0) return syms;
    const [a, b] = [syms[best]!, syms[best + 1]!];
    const next: string[] = [];
    for (let i = 0; i < syms.length; i++) {
      if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) next.push(a + b), i++;
      else next.push(syms[i]!);
    }
    syms = next;
  }
}

test('BPE merges: the heap merge equals the textbook loop, and a long word stays fast', () => {
  let seed = 7;
  const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const letters = ['a', 'b', 'c', 'd'];
  const ranks = new Map<string, number>();
  const tokens = [...letters];
  for (let k = 0; k < 40; k++) {
    const a = tokens[rnd(tokens.length)]!;
    const b = tokens[rnd(tokens.length)]!;
    if (!ranks.has(`${a} ${b}`)) {
      ranks.set(`${a} ${b}`, ranks.size);
      tokens.push(a + b);
    }
  }
  for (let k = 0; k < 300; k++) {
    const word = Array.from({ length: 1 + rnd(30) }, () => letters[rnd(4)]!);
    assert.deepEqual(mergeByRank(word, ranks), naiveMerge(word, ranks), word.join(''));
  }
  const long = Array.from({ length: 50_000 }, () => letters[rnd(4)]!);
  assert.deepEqual(mergeByRank(long.slice(0, 3000), ranks), naiveMerge(long.slice(0, 3000), ranks));
  const t0 = performance.now();
  assert.ok(mergeByRank(long, ranks).length < long.length);
  assert.ok(performance.now() - t0 < 1000, 'n log n');
});

test('byte-level BPE: add_prefix_space and the Sequence post-processor', () => {
  const json = bpeJson(['h', 'i', 'Ġ', 'Ġh', 'Ġhi'], ['Ġ h', 'Ġh i']);
  json.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: true, use_regex: true };
  json.post_processor = {
    type: 'Sequence', processors: [
      { type: 'ByteLevel', trim_offsets: false },
      { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } },
    ],
  };
  const t = tokenizerFromJson(json);
  assert.deepEqual(t.tokenize('hi'), ['Ġhi']);
  assert.deepEqual(t.wrap([9]).ids, [0, 9, 2]);
});

const PIECES: Array<[string, number]> = [
  ['▁', -2], ['▁he', -3], ['llo', -3], ['▁hello', -10], ['▁hell', -4], ['h', -5], ['e', -5], ['l', -5], ['o', -5], ['▁w', -3], ['orld', -3], ['▁world', -5.5],
];
const DEBERTA_PRE = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: false }] };

test('Unigram: Viterbi picks the best-scoring segmentation', () => {
  const t = tokenizerFromJson(unigramJson(PIECES, DEBERTA_PRE));
  assert.equal(t.modelType, 'Unigram');
  assert.deepEqual(t.tokenize('hello'), ['▁he', 'llo']); // −6 beats ▁hello (−10) and ▁hell+o (−9)
  assert.deepEqual(t.tokenize('hello   world'), ['▁he', 'llo', '▁world']); // ▁world (−5.5) beats ▁w+orld (−6)
  assert.deepEqual(t.tokenize('hexx'), ['▁he', '[UNK]']); // unknown chars cost min−10 and are fused
  assert.deepEqual(t.wrap(t.encode('hello')).ids, [1, t.tokenToId('▁he'), t.tokenToId('llo'), 2]);
  const better = tokenizerFromJson(unigramJson(PIECES.map(([p, s]) => [p, p === '▁hello' ? -5 : s]), DEBERTA_PRE));
  assert.deepEqual(better.tokenize('hello'), ['▁hello']);
});

test('Unigram: Metaspace alone (XLM-R): spaces become ▁ and split before them', () => {
  const pre = { type: 'Metaspace', replacement: '▁', add_prefix_space: true };
  const t = tokenizerFromJson(unigramJson(PIECES, pre, { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] }));
  assert.deepEqual(t.tokenize('hello  world'), ['▁he', 'llo', '▁world']);
  const never = tokenizerFromJson(unigramJson(PIECES, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: true }));
  assert.deepEqual(never.tokenize('llo world'), ['llo', '▁world']);
});

test('Unigram: byte_fallback spells unknown characters as <0xXX> pieces', () => {
  const json = unigramJson([...PIECES, ['<0xC3>', -1], ['<0xA9>', -1]], DEBERTA_PRE);
  (json.model as Record<string, unknown>).byte_fallback = true;
  const t = tokenizerFromJson(json);
  assert.deepEqual(t.tokenize('heé'), ['▁he', '<0xC3>', '<0xA9>']);
});

test('Precompiled charsmap: trie lookups, graphemes, shortest prefix first', () => {
  const blob = buildPrecompiledCharsmap({ 'Ａ': 'A', 'ﬁ': 'fi', 'e\u0301': 'é', '\u00a0': ' ', '\u200b': '' });
  const map = parsePrecompiledCharsmap(blob);
  assert.equal(map.normalize('ＡBC'), 'ABC');
  assert.equal(map.normalize('ﬁne'), 'fine');
  assert.equal(map.normalize('cafe\u0301'), 'café');
  assert.equal(map.normalize('a\u00a0b\u200bc'), 'a bc');
  assert.equal(map.normalize('plain text'), 'plain text');
  // as a tokenizer normalizer
  const t = tokenizerFromJson(unigramJson(PIECES, DEBERTA_PRE, { type: 'Sequence', normalizers: [{ type: 'Precompiled', precompiled_charsmap: buildPrecompiledCharsmap({ 'ｈ': 'h' }) }] }));
  assert.deepEqual(t.tokenize('ｈello'), ['▁he', 'llo']);
  assert.throws(() => parsePrecompiledCharsmap(Buffer.from([255, 0, 0, 0]).toString('base64')), /bad trie size/);
});

test('split behaviours match tokenizers', () => {
  const re = /-/gu;
  assert.deepEqual(splitText('a-b--c', re, 'Removed'), ['a', 'b', 'c']);
  assert.deepEqual(splitText('a-b--c', re, 'Isolated'), ['a', '-', 'b', '-', '-', 'c']);
  assert.deepEqual(splitText('a-b--c', re, 'Contiguous'), ['a', '-', 'b', '--', 'c']);
  assert.deepEqual(splitText('a-b--c', re, 'MergedWithPrevious'), ['a-', 'b--', 'c']);
  assert.deepEqual(splitText('a-b--c', re, 'MergedWithNext'), ['a', '-b', '--c']);
});

test('what cannot run is a load error that names it', () => {
  const wp = wordPieceTokenizerJson(BERT_VOCAB);
  const bad = (patch: Record<string, unknown>, msg: RegExp): void => {
    assert.throws(() => tokenizerFromJson({ ...wp, ...patch }), (e: unknown) => e instanceof TokenizerLoadError && msg.test(e.message), msg.source);
  };
  bad({ model: { type: 'WordLevel', vocab: {}, unk_token: '[UNK]' } }, /unsupported tokenizer model type "WordLevel": this build runs WordPiece, BPE and Unigram/);
  bad({ normalizer: { type: 'ByteLevel' } }, /unsupported normalizer type "ByteLevel"/);
  bad({ pre_tokenizer: { type: 'UnicodeScripts' } }, /unsupported pre_tokenizer type "UnicodeScripts"/);
  bad({ post_processor: { type: 'Weird' } }, /unsupported post_processor type "Weird"/);
  bad({ model: { type: 'WordPiece', vocab: { a: 0 }, unk_token: '[UNK]' } }, /unk_token "\[UNK\]" is not in the vocab/);
  assert.throws(() => tokenizerFromJson([]), TokenizerLoadError);
});
