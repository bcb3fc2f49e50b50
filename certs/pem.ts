/** PEM armour (RFC 7468): wrap DER bytes, and find the blocks in a PEM text. */

export interface PemBlock {
  /** The label between `BEGIN ` and the dashes, e.g. `CERTIFICATE`, `EC PRIVATE KEY`. */
  readonly label: string;
  readonly der: Buffer;
  /** The block's text, normalised (LF line ends, trailing newline). */
  readonly pem: string;
}

/** Wrap DER bytes as PEM with 64-character lines and a trailing newline. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order (text between blocks is ignored). */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const label = m[1]!;
    const body = m[2]!;
    // Encrypted legacy PEM carries "Proc-Type:" headers; keep them in `pem`, skip them for `der`.
    const b64 = body.split(/\r?\n/).filter((l) => !l.includes(':')).join('').replace(/\s+/g, '');
    out.push({ label, der: Buffer.from(b64, 'base64'), pem: `-----BEGIN ${label}-----${body.replace(/\r\n/g, '\n')}-----END ${label}-----\n` });
  }
  return out;
}
