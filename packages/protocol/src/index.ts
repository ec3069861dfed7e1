export * from './common.ts';
export * from './events.ts';
export * from './policy.ts';
export * from './agent-api.ts';
export * from './console-api.ts';
export * from './validate.ts';
export * from './intel-api.ts';
export * from './enrollment-token.ts';
