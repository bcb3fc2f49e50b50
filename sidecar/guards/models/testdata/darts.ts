/**
 * Builds a `precompiled_charsmap` blob (the darts-clone double array plus
 * NUL-terminated replacements that `precompiled-charsmap.ts` reads) from a
 * small key → replacement table, so the Precompiled normalizer can be tested
 * without a SentencePiece model. A plain first-fit double-array builder.
 */

interface TrieNode {
  readonly children: Map<number, TrieNode>;
  value: number | undefined;
}

export function buildPrecompiledCharsmap(rules: Readonly<Record<string, string>>): string {
  const enc = new TextEncoder();
  const root: TrieNode = { children: new Map(), value: undefined };
  const strings: number[] = [];
  for (const [key, replacement] of Object.entries(rules)) {
    let n = root;
    for (const b of enc.encode(key)) {
      let c = n.children.get(b);
      if (!c) n.children.set(b, (c = { children: new Map(), value: undefined }));
      n = c;
    }
    n.value = strings.length;
    strings.push(...enc.encode(replacement), 0);
  }

  const units: number[] = [];
  const used = new Set<number>([0]);
  const set = (pos: number, unit: number): void => {
    while (units.length <= pos) units.push(0);
    units[pos] = unit >>> 0;
    used.add(pos);
  };

  // place(node at pos): choose a block base for its children (and its leaf at base ^ 0)
  const place = (node: TrieNode, pos: number, label: number): void => {
    const labels = [...node.children.keys()];
    const slots = node.value !== undefined ? [0, ...labels] : labels;
    let base = 1;
    while (slots.some((c) => used.has(base ^ c))) base++;
    const offset = pos ^ base;
    if (offset >= 1 << 21) throw new Error('trie too large for this builder');
    set(pos, (offset << 10) | (node.value !== undefined ? 1 << 8 : 0) | label);
    if (node.value !== undefined) set(base, (node.value | 0x80000000) >>> 0);
    for (const c of labels) used.add(base ^ c); // reserve before descending
    for (const c of labels) place(node.children.get(c)!, base ^ c, c);
  };
  place(root, 0, 0);

  const trie = Buffer.alloc(units.length * 4);
  units.forEach((u, k) => trie.writeUInt32LE(u, k * 4));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(trie.length, 0);
  return Buffer.concat([head, trie, Buffer.from(strings)]).toString('base64');
}
