import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../lib/errors.ts';
import type { AgentPackages } from './agent-package.ts';

/** The installer the one-line install command runs; served verbatim (it takes everything else from the enrollment token). */
export const INSTALL_SCRIPT_PATH = join(import.meta.dirname, 'install.sh');

export interface DistributionOptions {
  packages: AgentPackages;
}

/**
 * Agent distribution, unauthenticated like `/api/agent/v1/ca` (neither holds a secret; the
 * installer checks the server's CA against the enrollment token before it trusts any of it):
 * - `GET /install.sh`: the installer;
 * - `GET /downloads/agent-PLATFORM.sha256`: `SHA256  FILE` of the current package (sha256sum -c);
 * - `GET /downloads/FILE`: the package, streamed from the cache; names are immutable.
 */
export const distributionRoutes: FastifyPluginAsyncTypebox<DistributionOptions> = async (app, { packages }) => {
  const { platform } = packages;
  const script = await readFile(INSTALL_SCRIPT_PATH);
  app.get('/install.sh', { schema: { tags: ['distribution'] } }, async (_req, reply) =>
    reply.type('text/x-shellscript; charset=utf-8').header('cache-control', 'no-cache').send(script),
  );
  app.get(
    '/downloads/:file',
    { schema: { tags: ['distribution'], params: Type.Object({ file: Type.String({ maxLength: 200 }) }) } },
    async (req, reply) => {
      const { file } = req.params;
      const asked = /^agent-(.+)\.sha256$/.exec(file)?.[1];
      if (asked !== undefined && asked !== platform) {
        throw new AppError('not_found', `no agent package for ${asked}: this server builds them for its own platform, ${platform}, only`);
      }
      const pkg = await packages.current();
      if (asked !== undefined) return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(`${pkg.sha256}  ${pkg.fileName}\n`);
      if (file !== pkg.fileName) {
        throw new AppError('not_found', `no package ${file} here (the current one is ${pkg.fileName}): run the install command again`);
      }
      return reply
        .type('application/gzip')
        .header('content-length', pkg.size)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('x-yamori-sha256', pkg.sha256)
        .send(createReadStream(pkg.path));
    },
  );
};
