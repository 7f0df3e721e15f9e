/**
 * Go's text/tabwriter as rkt configures it (`Init(w, 0, 8, 1, '\t', 0)`): cells are tab-terminated,
 * each column is as wide as its widest cell plus the padding, rounded up to a multiple of the tab
 * width, and filled with tab characters. The last cell of a line is not part of any column. A column
 * spans only the consecutive lines that have a cell in it ("column blocks"), as in Go.
 */
export interface TabwriterOptions {
  minWidth: number;
  tabWidth: number;
  padding: number;
}

export const RKT_TABWRITER: TabwriterOptions = { minWidth: 0, tabWidth: 8, padding: 1 };

/** Formats text whose lines hold tab-separated cells; the result keeps the text's final newline. */
export function tabwrite(text: string, opts: TabwriterOptions = RKT_TABWRITER): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i] ?? [];
      let s = '';
      cells.forEach((cell, j) => {
        s += cell;
        const width = widths[j];
        if (width !== undefined && j < cells.length - 1)
          s += tabPadding(cellWidth(cell), width, opts.tabWidth);
      });
      out.push(s);
    }
  };

  const format = (line0: number, line1: number) => {
    const column = widths.length;
    let from = line0;
    for (let at = line0; at < line1; at++) {
      if (column >= (lines[at]?.length ?? 0) - 1) continue;
      writeLines(from, at);
      const blockStart = at;
      let width = opts.minWidth;
      for (; at < line1; at++) {
        const cells = lines[at] ?? [];
        if (column >= cells.length - 1) break;
        width = Math.max(width, cellWidth(cells[column] ?? '') + opts.padding);
      }
      widths.push(width);
      format(blockStart, at);
      widths.pop();
      from = at;
    }
    writeLines(from, line1);
  };

  format(0, lines.length);
  return out.join('\n');
}

/** Tabs to fill a cell of `textWidth` to `cellWidth` rounded up to the tab width. */
function tabPadding(textWidth: number, cellWidth: number, tabWidth: number): string {
  const rounded = Math.ceil(cellWidth / tabWidth) * tabWidth;
  return '\t'.repeat(Math.ceil((rounded - textWidth) / tabWidth));
}

/** Go counts UTF-8 runes, which is code points. */
function cellWidth(cell: string): number {
  return [...cell].length;
}

/** Rows of cells to a table: one line per row, cells tab-separated, through tabwrite. */
export function formatTable(
  rows: readonly (readonly string[])[],
  opts: TabwriterOptions = RKT_TABWRITER,
): string {
  return tabwrite(rows.map((r) => r.join('\t') + '\n').join(''), opts);
}
