export * from './exclusion-match.ts';
