import type { FastifyError, FastifyInstance } from 'fastify';
import { ERROR_CODES, type ErrorBody, type ErrorCode } from '@yamori/protocol';

/** Domain errors: thrown anywhere, mapped to HTTP in one place (`installErrorHandler`). */
export class IntelError extends Error {
  readonly code: ErrorCode;
  readonly details: string[] | undefined;
  constructor(code: ErrorCode, message: string, details?: string[]) {
    super(message);
    this.code = code;
    this.details = details;
  }
}
export class InvalidInputError extends IntelError {
  constructor(message: string, details?: string[]) {
    super('invalid_input', message, details);
  }
}
export class NotFoundError extends IntelError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}
export class ConflictError extends IntelError {
  constructor(message: string) {
    super('conflict', message);
  }
}
export class UnauthorizedError extends IntelError {
  constructor(message = 'authentication required: send "Authorization: Bearer <intel API key>"') {
    super('unauthorized', message);
  }
}
export class ForbiddenError extends IntelError {
  constructor(message: string) {
    super('forbidden', message);
  }
}
export class PayloadTooLargeError extends IntelError {
  constructor(message: string) {
    super('payload_too_large', message);
  }
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | IntelError | Error, request, reply) => {
    let status: number;
    let body: ErrorBody;
    if (error instanceof IntelError) {
      status = ERROR_CODES[error.code];
      body = { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
    } else if ('validation' in error && error.validation) {
      status = 400;
      const where = (error as FastifyError).validationContext ?? 'body';
      const details = error.validation.slice(0, 20).map((v) => `${where}${v.instancePath || ''} ${v.message ?? ''}`.trim());
      body = { code: 'invalid_input', message: `invalid ${where}: ${details.join('; ')}`, details };
    } else if ('statusCode' in error && typeof error.statusCode === 'number' && error.statusCode < 500) {
      status = error.statusCode;
      const code: ErrorCode = status === 413 ? 'payload_too_large' : status === 404 ? 'not_found' : 'invalid_input';
      body = { code, message: error.message };
    } else {
      request.log.error({ err: error }, 'unhandled error');
      status = 500;
      body = { code: 'internal', message: 'internal error: see the intel service log for details' };
    }
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ code: 'not_found', message: `no route ${request.method} ${request.url}` } satisfies ErrorBody);
  });
}
