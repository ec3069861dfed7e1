import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { SandboxClaimRequest, SandboxClaimResponse, SandboxReport, SandboxReportAck } from '@yamori/protocol';
import type { Counter } from 'prom-client';
import type { Authenticator } from '../auth.ts';
import { clientGone } from '../wait.ts';
import { claim, jobSample, submitReport, type SandboxDeps } from './service.ts';

/** The sandbox workers' API (worker keys only). */
export interface SandboxRoutesOptions extends SandboxDeps {
  auth: Authenticator;
  reports?: Counter;
}

const JobParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) });

export const sandboxRoutes: FastifyPluginAsyncTypebox<SandboxRoutesOptions> = async (app, opts) => {
  app.addHook('onRequest', opts.auth.require('worker'));

  app.post('/claim', { schema: { body: SandboxClaimRequest, response: { 200: SandboxClaimResponse } } }, async (request, reply) =>
    claim(opts, request.body.workerId, request.body.waitS, clientGone(reply.raw)),
  );

  app.get('/jobs/:id/sample', { schema: { params: JobParams } }, async (request, reply) => {
    const bytes = await jobSample(opts, request.params.id);
    return reply.type('application/octet-stream').send(bytes);
  });

  app.post(
    '/jobs/:id/report',
    { schema: { params: JobParams, body: SandboxReport, response: { 200: SandboxReportAck } }, bodyLimit: 16 * 1024 * 1024 },
    async (request) => {
      const ack = await submitReport(opts, request.params.id, request.body);
      opts.reports?.inc();
      return ack;
    },
  );
};
