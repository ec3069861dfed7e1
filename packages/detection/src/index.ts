export * from './exclusion-match.ts';
export * from './sigma/index.ts';
export * from './yara/index.ts';
export * from './file/index.ts';
export * from './upload-policy.ts';
