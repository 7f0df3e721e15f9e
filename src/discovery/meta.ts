/**
 * Reads `<meta name="ac-discovery" content="PREFIX TEMPLATE">` and `ac-discovery-pubkeys` tags from
 * a discovery page. Like the reference (Go's html tokenizer) it scans tags without building a tree:
 * tag and attribute names are case-insensitive, values may be unquoted, `<meta/>` counts, entities
 * in values are decoded and text inside `<script>`/`<style>` is not markup.
 */
import { Parser } from 'htmlparser2';

export type ACMetaName = 'ac-discovery' | 'ac-discovery-pubkeys';

export interface ACMeta {
  readonly name: ACMetaName;
  /** The app name prefix the tag applies to (a plain string prefix, not path-segment aware). */
  readonly prefix: string;
  /** A URL template (`ac-discovery`) or a public key URL (`ac-discovery-pubkeys`). */
  readonly uri: string;
}

function isMetaName(name: string): name is ACMetaName {
  return name === 'ac-discovery' || name === 'ac-discovery-pubkeys';
}

/**
 * The content is trimmed and split at its first space (as the reference does; a tab does not
 * separate); a tag lacking either part is ignored.
 */
function toMeta(name: string | undefined, content: string | undefined): ACMeta | undefined {
  if (name === undefined || !isMetaName(name) || content === undefined) return undefined;
  const trimmed = content.trim();
  const space = trimmed.indexOf(' ');
  if (space < 0) return undefined;
  const prefix = trimmed.slice(0, space);
  const uri = trimmed.slice(space + 1).trim();
  return prefix === '' || uri === '' ? undefined : { name, prefix, uri };
}

/** An incremental scanner: feed it decoded text as it arrives, then call end(). */
export class ACMetaScanner {
  private readonly found: ACMeta[] = [];
  private attrs = new Map<string, string>();
  private readonly parser: Parser;

  constructor() {
    this.parser = new Parser(
      {
        onopentagname: () => {
          this.attrs = new Map();
        },
        // A repeated attribute: the last one wins, as in the reference.
        onattribute: (name, value) => {
          this.attrs.set(name, value);
        },
        onopentag: (name, _attribs, isImplied) => {
          if (name !== 'meta' || isImplied) return;
          const meta = toMeta(this.attrs.get('name'), this.attrs.get('content'));
          if (meta) this.found.push(meta);
        },
      },
      { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
    );
  }

  write(text: string): void {
    this.parser.write(text);
  }

  /** Finishes the document and returns the tags in document order. */
  end(): ACMeta[] {
    this.parser.end();
    return [...this.found];
  }
}

export function extractACMeta(html: string): ACMeta[] {
  const scanner = new ACMetaScanner();
  scanner.write(html);
  return scanner.end();
}

/**
 * Scans a response body as it streams in. A read error ends the page (what was read still
 * counts), as the reference tokenizer does; at most `maxBytes` are read.
 */
export async function readACMeta(body: AsyncIterable<Uint8Array>, maxBytes = 8 << 20): Promise<ACMeta[]> {
  const scanner = new ACMetaScanner();
  const decoder = new TextDecoder('utf-8');
  let total = 0;
  try {
    for await (const chunk of body) {
      const room = maxBytes - total;
      total += chunk.byteLength;
      scanner.write(decoder.decode(chunk.subarray(0, Math.max(0, room)), { stream: true }));
      if (total >= maxBytes) break;
    }
  } catch {
    // keep what was parsed before the error
  }
  scanner.write(decoder.decode());
  return scanner.end();
}
