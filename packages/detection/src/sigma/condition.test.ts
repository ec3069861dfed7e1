import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCondition } from './condition.ts';

const names = ['selection', 'selection_a', 'selection_b', 'filter_main_x', 'filter_opt', '_hidden'];

void test('precedence: not binds tighter than and, and tighter than or', () => {
  assert.deepEqual(parseCondition('selection or selection_a and not filter_opt', names), {
    op: 'or',
    args: [
      { op: 'ref', name: 'selection' },
      { op: 'and', args: [{ op: 'ref', name: 'selection_a' }, { op: 'not', arg: { op: 'ref', name: 'filter_opt' } }] },
    ],
  });
  assert.deepEqual(parseCondition('(selection or selection_a) and selection_b', names).op, 'and');
});

void test('quantifiers expand to the search names they cover; them skips _names', () => {
  assert.deepEqual(parseCondition('1 of selection_*', names), {
    op: 'or',
    args: [
      { op: 'ref', name: 'selection_a' },
      { op: 'ref', name: 'selection_b' },
    ],
  });
  assert.deepEqual(parseCondition('all of selection*', names), {
    op: 'and',
    args: ['selection', 'selection_a', 'selection_b'].map((name) => ({ op: 'ref', name })),
  });
  const them = parseCondition('all of them', names);
  assert.ok(them.op === 'and' && them.args.length === 5);
  assert.deepEqual(parseCondition('1 of filter_main_*', names), { op: 'ref', name: 'filter_main_x' });
  assert.equal(parseCondition('2 of selection*', names).op, 'atleast');
});

void test('bad conditions are refused with a reason', () => {
  assert.throws(() => parseCondition('selection and', names), /ends too early/);
  assert.throws(() => parseCondition('selection and nope', names), /undefined search 'nope'/);
  assert.throws(() => parseCondition('1 of nothing_*', names), /matches no search/);
  assert.throws(() => parseCondition('(selection', names), /missing '\)'|ends too early/);
  assert.throws(() => parseCondition('selection | count() > 5', names), /aggregations/);
  assert.throws(() => parseCondition('selection selection_a', names), /unexpected/);
});
