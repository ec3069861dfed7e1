import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRules } from './engine.ts';
import { parseSigmaRule } from './parse.ts';
import { regexSample, synthesizeEvent } from './synthesize.ts';

void test('regexSample produces a string the regular expression matches', () => {
  for (const src of ['\\s-O\\s', '(.){20,}', '-(W|R)\\s?(\\s|"|\')([0-9a-fA-F]{2}\\s?){2,20}(\\s|"|\')', '(?:\\s-[^-\\s]{0,20}i|\\s--inode\\s)', '^/tmp/[a-z]+\\.sh$', 'a[^abc]b', '\\x41\\u0042', 'x(?=y)y']) {
    const re = new RegExp(src);
    assert.match(regexSample(re), re, src);
  }
});

void test('synthesizes a matching event, keeps the selection away from filters on the same field', () => {
  const p = parseSigmaRule(
    `title: cron
logsource: {product: linux, category: file_event}
detection:
  selection:
    TargetFilename|startswith: ['/etc/cron.daily/', '/etc/cron.d/']
  filter_apt:
    TargetFilename: '/etc/cron.daily/'
  filter_vim:
    Image|endswith: /vim
  condition: selection and not 1 of filter_*
`,
    'c.yml',
  );
  assert.ok(p.ok);
  const [rule] = compileRules([p.rule]).compiled;
  assert.ok(rule);
  const ev = synthesizeEvent(rule) as { file: { path: string }; process?: { executable?: string } };
  assert.equal(ev.file.path, '/etc/cron.d/');
  assert.equal(ev.process?.executable, undefined);
});
