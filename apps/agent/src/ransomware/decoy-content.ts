import { deflateRawSync, crc32 } from 'node:zlib';

/**
 * What a decoy file is called and what it holds. Pure: the bytes come from a seed, so each decoy
 * differs from every other (a ransomware author cannot skip "the Yamori file" by its hash) while
 * being a valid file of its type (a DOCX/XLSX opens in an office suite, the PDF in a viewer, the
 * JPEG decodes), because ransomware that checks magic bytes before encrypting must still pick them.
 *
 * Names. Most tools that walk a tree visit a directory in byte order (Node's readdir through libuv,
 * Go's os.ReadDir, Python's sorted(os.listdir), `find | sort`), so the decoys sit at both ends:
 * - `.!!N_…` sorts before every ordinary name ('.' 0x2E is below digits and letters; '!' 0x21 after
 *   the dot puts it before every other dotfile) and is hidden (a dotfile) in shells and file managers;
 * - `~~~~_…` sorts after every ASCII name ('~' 0x7E is the highest printable byte). It cannot be a
 *   dotfile and sort last at once; we keep it plain rather than give up the end of the order.
 *   Names that begin with non-ASCII characters (Japanese file names) sort after it: for those the
 *   decoys at the front, and the behavioural detector, are the guard.
 * Walkers in raw getdents order (ext4's hash order) meet the decoys at random places; the number of
 * decoys per folder and the behavioural detector cover them.
 */

export type DecoyType = 'docx' | 'xlsx' | 'pdf' | 'jpeg' | 'csv';

export interface DecoySpec {
  name: string;
  type: DecoyType;
  position: 'first' | 'last';
}

export const DECOYS: readonly DecoySpec[] = [
  { name: '.!!0_Contract_2026.docx', type: 'docx', position: 'first' },
  { name: '.!!1_Invoice_0412.pdf', type: 'pdf', position: 'first' },
  { name: '.!!2_Accounts.csv', type: 'csv', position: 'first' },
  { name: '~~~~_Budget_2026.xlsx', type: 'xlsx', position: 'last' },
  { name: '~~~~_Scan_0001.jpg', type: 'jpeg', position: 'last' },
];

const DECOY_NAMES: ReadonlySet<string> = new Set(DECOYS.map((d) => d.name));

/** True for a file name Yamori uses for decoys (telemetry filters and the detector skip them). */
export const isDecoyName = (name: string): boolean => DECOY_NAMES.has(name);

/** A small deterministic generator (xorshift32) so the same seed gives the same bytes (tests, re-checks). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

const WORDS = [
  'quarterly', 'invoice', 'payment', 'supplier', 'contract', 'renewal', 'budget', 'forecast', 'customer',
  'delivery', 'approved', 'pending', 'account', 'balance', 'project', 'schedule', 'review', 'summary',
];
const NAMES = ['Sato', 'Suzuki', 'Takahashi', 'Tanaka', 'Watanabe', 'Ito', 'Yamamoto', 'Nakamura', 'Kobayashi', 'Kato'];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)] as T;
}

function sentence(r: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(pick(r, WORDS));
  const s = out.join(' ');
  return `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;
}

const xml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A zip archive (deflated entries), as office suites write them. */
export function zip(entries: readonly { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  // 2026-01-15 09:30:00 in DOS format
  const dosTime = (9 << 11) | (30 << 5);
  const dosDate = ((2026 - 1980) << 9) | (1 << 5) | 15;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const packed = deflateRawSync(e.data);
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += local.length + name.length + packed.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const RELS_NS = 'http://schemas.openxmlformats.org/package/2006/relationships';
const OFFICE_REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const part = (name: string, text: string) => ({ name, data: Buffer.from(XML_HEAD + text, 'utf8') });

function docx(r: () => number): Buffer {
  const paras = Array.from({ length: 6 + Math.floor(r() * 6) }, () => `<w:p><w:r><w:t>${xml(sentence(r, 8 + Math.floor(r() * 10)))}</w:t></w:r></w:p>`);
  return zip([
    part(
      '[Content_Types].xml',
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    ),
    part('_rels/.rels', `<Relationships xmlns="${RELS_NS}"><Relationship Id="rId1" Type="${OFFICE_REL}/officeDocument" Target="word/document.xml"/></Relationships>`),
    part(
      'word/document.xml',
      `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Service contract ${pick(r, NAMES)} / ${1000 + Math.floor(r() * 9000)}</w:t></w:r></w:p>${paras.join('')}</w:body></w:document>`,
    ),
  ]);
}

function xlsx(r: () => number): Buffer {
  const rows = ['<row r="1"><c r="A1" t="inlineStr"><is><t>Account</t></is></c><c r="B1" t="inlineStr"><is><t>Owner</t></is></c><c r="C1" t="inlineStr"><is><t>Amount</t></is></c></row>'];
  const n = 12 + Math.floor(r() * 20);
  for (let i = 2; i <= n; i++) {
    rows.push(
      `<row r="${i}"><c r="A${i}" t="inlineStr"><is><t>${pick(r, WORDS)}-${100 + i}</t></is></c><c r="B${i}" t="inlineStr"><is><t>${pick(r, NAMES)}</t></is></c><c r="C${i}"><v>${Math.floor(r() * 5_000_000)}</v></c></row>`,
    );
  }
  return zip([
    part(
      '[Content_Types].xml',
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    ),
    part('_rels/.rels', `<Relationships xmlns="${RELS_NS}"><Relationship Id="rId1" Type="${OFFICE_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>`),
    part(
      'xl/workbook.xml',
      `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="${OFFICE_REL}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    ),
    part('xl/_rels/workbook.xml.rels', `<Relationships xmlns="${RELS_NS}"><Relationship Id="rId1" Type="${OFFICE_REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`),
    part('xl/worksheets/sheet1.xml', `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${rows.join('')}</sheetData></worksheet>`),
  ]);
}

/** A one-page PDF with a correct cross-reference table (viewers open it without repair). */
function pdf(r: () => number): Buffer {
  const lines = Array.from({ length: 8 }, (_, i) => `BT /F1 11 Tf 72 ${700 - i * 16} Td (${sentence(r, 7).replace(/[()\\]/g, '')}) Tj ET`);
  const content = `BT /F1 16 Tf 72 740 Td (Invoice ${10000 + Math.floor(r() * 90000)}) Tj ET\n${lines.join('\n')}`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

const segment = (marker: number, body: Buffer): Buffer => {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(marker, 0);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
};

/**
 * A baseline grayscale JPEG (JFIF) that decodes to a flat grey image: one Huffman code per table
 * (DC difference 0, end of block), so every 8×8 block is the two bits "00". The comment segment
 * carries the seeded text that makes each decoy unique.
 */
function jpeg(r: () => number): Buffer {
  const width = 64 + 8 * Math.floor(r() * 8);
  const height = 48 + 8 * Math.floor(r() * 6);
  const blocks = (width / 8) * (height / 8);
  const app0 = Buffer.from([0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x48, 0x00, 0x48, 0x00, 0x00]);
  const comment = Buffer.from(`Scanned ${pick(r, NAMES)} ${pick(r, WORDS)} ${Math.floor(r() * 1e6)}`, 'latin1');
  const dqt = Buffer.concat([Buffer.from([0x00]), Buffer.alloc(64, 1)]);
  const sof = Buffer.from([8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]);
  const table = (cls: number) => Buffer.concat([Buffer.from([cls << 4]), Buffer.from([1, ...new Array<number>(15).fill(0)]), Buffer.from([0])]);
  const sos = Buffer.from([1, 1, 0x00, 0, 63, 0]);
  // two zero bits per block, the last byte padded with one bits as the standard asks
  const data = Buffer.alloc(Math.ceil((blocks * 2) / 8), 0);
  if ((blocks * 2) % 8 !== 0) data[data.length - 1] = 0xff >> ((blocks * 2) % 8);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    segment(0xffe0, app0),
    segment(0xfffe, comment),
    segment(0xffdb, dqt),
    segment(0xffc0, sof),
    segment(0xffc4, table(0)),
    segment(0xffc4, table(1)),
    segment(0xffda, sos),
    data,
    Buffer.from([0xff, 0xd9]),
  ]);
}

function csv(r: () => number): Buffer {
  const rows = ['date,customer,invoice,amount,status'];
  const n = 20 + Math.floor(r() * 40);
  for (let i = 0; i < n; i++) {
    const m = 1 + Math.floor(r() * 12);
    const d = 1 + Math.floor(r() * 28);
    rows.push(`2026-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')},${pick(r, NAMES)},INV-${10000 + Math.floor(r() * 90000)},${Math.floor(r() * 900000) / 100},${pick(r, ['paid', 'pending', 'approved'])}`);
  }
  return Buffer.from(`${rows.join('\n')}\n`, 'utf8');
}

/** The bytes of one decoy of `type`, from `seed` (same seed, same bytes). */
export function decoyContent(type: DecoyType, seed: number): Buffer {
  const r = rng(seed);
  switch (type) {
    case 'docx':
      return docx(r);
    case 'xlsx':
      return xlsx(r);
    case 'pdf':
      return pdf(r);
    case 'jpeg':
      return jpeg(r);
    case 'csv':
      return csv(r);
  }
}
