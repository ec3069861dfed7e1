export * from './exclusion-match.ts';
export * from './sigma/index.ts';
