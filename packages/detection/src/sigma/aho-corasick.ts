/**
 * Aho-Corasick over UTF-16 code units: finds which of many literals occur in a text in one pass.
 * The engine keeps one automaton per (category, field) holding every rule's prefilter literals.
 */
export class AhoCorasick {
  private readonly next: Map<number, number>[] = [new Map<number, number>()];
  private readonly fail: number[] = [0];
  /** pattern ids ending at each node, including those reached through failure links */
  private readonly out: number[][] = [[]];
  readonly size: number;

  constructor(patterns: readonly string[]) {
    this.size = patterns.length;
    patterns.forEach((p, id) => {
      let node = 0;
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i);
        const edges = this.next[node] as Map<number, number>;
        let to = edges.get(c);
        if (to === undefined) {
          to = this.next.length;
          edges.set(c, to);
          this.next.push(new Map<number, number>());
          this.fail.push(0);
          this.out.push([]);
        }
        node = to;
      }
      (this.out[node] as number[]).push(id);
    });
    // breadth-first failure links
    const queue: number[] = [];
    for (const to of (this.next[0] as Map<number, number>).values()) queue.push(to);
    for (let qi = 0; qi < queue.length; qi++) {
      const node = queue[qi] as number;
      for (const [c, to] of this.next[node] as Map<number, number>) {
        queue.push(to);
        let f = this.fail[node] as number;
        while (f !== 0 && !(this.next[f] as Map<number, number>).has(c)) f = this.fail[f] as number;
        const target = (this.next[f] as Map<number, number>).get(c);
        this.fail[to] = target !== undefined && target !== to ? target : 0;
        const inherited = this.out[this.fail[to]] as number[];
        if (inherited.length > 0) this.out[to] = [...(this.out[to] as number[]), ...inherited];
      }
    }
  }

  /** Calls `hit(id)` for every pattern occurring in text (an id may be reported more than once). */
  scan(text: string, hit: (id: number) => void): void {
    let node = 0;
    const next = this.next;
    const fail = this.fail;
    const out = this.out;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      let to = (next[node] as Map<number, number>).get(c);
      while (to === undefined && node !== 0) {
        node = fail[node] as number;
        to = (next[node] as Map<number, number>).get(c);
      }
      node = to ?? 0;
      const o = out[node] as number[];
      for (let k = 0; k < o.length; k++) hit(o[k] as number);
    }
  }
}
