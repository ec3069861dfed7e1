/**
 * Decoy user files seeded into the scratch home before a run: plausible documents with valid
 * headers (PDF, RTF, CSV, HTML, SVG, text, shell rc files) and low-entropy content, so that
 * encryption shows up as an entropy jump. Deterministic: same files every run.
 */

export interface DecoyFile {
  /** Relative to the home directory. */
  path: string;
  content: Buffer;
}

const WORDS =
  'invoice quarterly revenue forecast customer contract renewal meeting budget payroll supplier warehouse shipment approval signature confidential project milestone'.split(
    ' ',
  );

function prose(seed: number, words: number): string {
  let x = seed;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out.push(WORDS[x % WORDS.length] ?? 'data');
    if (i % 14 === 13) out.push('.\n');
  }
  return out.join(' ');
}

function pdf(text: string): Buffer {
  const stream = `BT /F1 11 Tf 72 720 Td (${text.replace(/[()\\\n]/g, ' ')}) Tj ET`;
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let body = '%PDF-1.7\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(body.length);
    body += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) body += `${String(off).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

export function decoyFiles(): DecoyFile[] {
  const csv = ['date,employee,gross,net'];
  for (let i = 1; i <= 120; i++)
    csv.push(
      `2026-${String((i % 12) + 1).padStart(2, '0')}-28,employee${i},${4000 + i * 13},${2900 + i * 9}`,
    );
  return [
    { path: 'Documents/quarterly-report-2026Q3.pdf', content: pdf(prose(1, 700)) },
    {
      path: 'Documents/supplier-contract.rtf',
      content: Buffer.from(`{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}}\n\\f0\\fs24 ${prose(2, 600)}\n}`),
    },
    { path: 'Documents/payroll-2026.csv', content: Buffer.from(`${csv.join('\n')}\n`) },
    {
      path: 'Documents/board-minutes.html',
      content: Buffer.from(
        `<!DOCTYPE html>\n<html><head><title>Minutes</title></head><body><p>${prose(3, 600)}</p></body></html>\n`,
      ),
    },
    {
      path: 'Pictures/logo.svg',
      content: Buffer.from(
        `<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">${'<rect x="10" y="10" width="20" height="20" fill="#336699"/>'.repeat(40)}</svg>\n`,
      ),
    },
    { path: 'Desktop/notes.txt', content: Buffer.from(prose(4, 500)) },
    {
      path: '.bashrc',
      content: Buffer.from(
        '# ~/.bashrc\ncase $- in *i*) ;; *) return;; esac\nHISTSIZE=1000\nalias ll="ls -l"\n',
      ),
    },
    {
      path: '.profile',
      content: Buffer.from(
        '# ~/.profile\nif [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi\n',
      ),
    },
    {
      path: '.ssh/known_hosts',
      content: Buffer.from(
        'git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n',
      ),
    },
  ];
}
