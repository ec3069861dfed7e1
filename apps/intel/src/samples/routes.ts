import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Sha256, SampleReportResponse, SampleUploadResponse } from '@yamori/protocol';
import type { Authenticator } from '../auth.ts';
import { ForbiddenError, InvalidInputError } from '../errors.ts';
import { sampleReport, uploadSample, type SampleDeps } from './service.ts';

/** Sample uploads and reports (organization keys only: samples belong to one organization). */
export interface SampleRoutesOptions extends SampleDeps {
  auth: Authenticator;
}

export const sampleRoutes: FastifyPluginAsyncTypebox<SampleRoutesOptions> = async (app, opts) => {
  app.addHook('onRequest', opts.auth.require('org'));
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: opts.maxSampleBytes }, (_req, body, done) =>
    done(null, body),
  );
  const orgOf = (p: { orgId: string | null }) => {
    if (!p.orgId) throw new ForbiddenError('this key belongs to no organization');
    return p.orgId;
  };
  const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

  app.post('/', { schema: { response: { 200: SampleUploadResponse } }, bodyLimit: opts.maxSampleBytes }, async (request) => {
    if (!Buffer.isBuffer(request.body)) throw new InvalidInputError('send the sample as content-type application/octet-stream');
    const name = header(request.headers['x-yamori-file-name']);
    return uploadSample(opts, {
      orgId: orgOf(opts.auth.principal(request)),
      body: request.body,
      sha256: header(request.headers['x-yamori-sha256']),
      fileName: name === undefined ? undefined : decodeHeader(name),
      kind: header(request.headers['x-yamori-kind']),
    });
  });

  app.get(
    '/:sha256/report',
    { schema: { params: Type.Object({ sha256: Sha256 }), response: { 200: SampleReportResponse } } },
    async (request) => sampleReport(opts, orgOf(opts.auth.principal(request)), request.params.sha256),
  );
};

/** File names travel percent-encoded (headers are latin-1); a plain name passes through. */
function decodeHeader(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
