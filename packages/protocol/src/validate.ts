import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

/**
 * Validate `value` against `schema` for callers outside Fastify (agent, CLI, console): returns the
 * typed value or throws an Error whose message lists every problem with its JSON pointer.
 */
export function parseWith<T extends TSchema>(schema: T, value: unknown, what = 'value'): Static<T> {
  const check = compiled(schema);
  if (check.Check(value)) return value as Static<T>;
  const problems = [...check.Errors(value)].slice(0, 20).map((e) => `${e.instancePath || '/'} ${e.message}`);
  throw new Error(`invalid ${what}: ${problems.join('; ')}`);
}

const cache = new WeakMap<TSchema, ReturnType<typeof Compile>>();
function compiled(schema: TSchema): ReturnType<typeof Compile> {
  let c = cache.get(schema);
  if (!c) {
    c = Compile(schema);
    cache.set(schema, c);
  }
  return c;
}
