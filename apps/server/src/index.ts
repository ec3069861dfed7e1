export { buildApp, type AppDeps, type App } from './app.ts';
export { loadConfig, type ServerConfig, type ConfigInput } from './config.ts';
export { startServer, type RunningServer } from './start.ts';
export { serverMigrations } from './migrations/index.ts';
export { bootstrapFirstRun, FIRST_OWNER_EMAIL, type FirstRun } from './bootstrap.ts';
export type { DB } from './db-types.ts';
export * as admin from './admin.ts';
