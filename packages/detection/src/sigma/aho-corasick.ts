/**
 * Aho-Corasick over UTF-16 code units: finds which of many literals occur in a text in one pass.
 * The engine keeps one automaton per (category, field) holding every rule's prefilter literals.
 * The trie is compiled into a full DFA over a compact alphabet (only the characters that occur in
 * the patterns; everything else is one "other" symbol), so a scan is one table lookup per char.
 */
export class AhoCorasick {
  readonly size: number;
  /** alphabet index of ASCII chars (0 = not in any pattern) */
  private readonly ascii = new Uint16Array(128);
  private readonly wide = new Map<number, number>();
  private readonly width: number;
  private readonly delta: Int32Array;
  /** pattern ids ending at each state, including those reached through failure links */
  private readonly out: (readonly number[] | undefined)[];

  constructor(patterns: readonly string[]) {
    this.size = patterns.length;
    let symbols = 1;
    const sym = (c: number): number => {
      if (c < 128) {
        if (this.ascii[c] === 0) this.ascii[c] = symbols++;
        return this.ascii[c] as number;
      }
      let s = this.wide.get(c);
      if (s === undefined) this.wide.set(c, (s = symbols++));
      return s;
    };
    // trie
    const next: Map<number, number>[] = [new Map<number, number>()];
    const outs: number[][] = [[]];
    patterns.forEach((p, id) => {
      let node = 0;
      for (let i = 0; i < p.length; i++) {
        const a = sym(p.charCodeAt(i));
        const edges = next[node] as Map<number, number>;
        let to = edges.get(a);
        if (to === undefined) {
          to = next.length;
          edges.set(a, to);
          next.push(new Map<number, number>());
          outs.push([]);
        }
        node = to;
      }
      (outs[node] as number[]).push(id);
    });
    const width = symbols;
    const delta = new Int32Array(next.length * width);
    const fail = new Int32Array(next.length);
    // breadth-first: each state's row is its failure state's row overridden by its own edges
    const queue: number[] = [];
    for (const [a, to] of next[0] as Map<number, number>) {
      delta[a] = to;
      queue.push(to);
    }
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi] as number;
      const f = fail[s] as number;
      delta.copyWithin(s * width, f * width, f * width + width);
      const inherited = outs[f] as number[];
      if (inherited.length > 0) outs[s] = [...(outs[s] as number[]), ...inherited];
      for (const [a, to] of next[s] as Map<number, number>) {
        fail[to] = delta[f * width + a] as number;
        delta[s * width + a] = to;
        queue.push(to);
      }
    }
    this.width = width;
    this.delta = delta;
    this.out = outs.map((o) => (o.length > 0 ? o : undefined));
  }

  /** Calls `hit(id)` for every pattern occurring in text (an id may be reported more than once). */
  scan(text: string, hit: (id: number) => void): void {
    const { ascii, wide, width, delta, out } = this;
    let s = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const a = c < 128 ? (ascii[c] as number) : (wide.get(c) ?? 0);
      s = delta[s * width + a] as number;
      const o = out[s];
      if (o !== undefined) for (let k = 0; k < o.length; k++) hit(o[k] as number);
    }
  }
}
