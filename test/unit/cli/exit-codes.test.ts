// The edges' mappings of error kinds: exit codes (src/cli) and gRPC statuses (src/api, src/cri).
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { describe, it } from 'node:test';
import { ApiError, grpcStatusOf, toServiceError } from '../../../src/api/errors.js';
import { exitCodeForKind, exitCodeOf } from '../../../src/cli/exit-codes.js';
import { ERROR_KINDS, RocketError, isRktFailure } from '../../../src/errors.js';

describe('error kinds at the edges', () => {
  it('keeps the message and sets the kind, or the exit code a command line chose', () => {
    const kinded = new RocketError('no matches found for "x"', 'not-found');
    assert.equal(kinded.message, 'no matches found for "x"');
    assert.equal(kinded.kind, 'not-found');
    assert.equal(kinded.exitCode, undefined);
    const coded = new RocketError('bad flag', 2);
    assert.equal(coded.exitCode, 2);
    assert.equal(coded.kind, 'unknown');
    assert.equal(new RocketError('plain').exitCode, 1);
  });

  it('ends every rkt failure with 254, whatever its kind', () => {
    for (const k of ERROR_KINDS) assert.equal(exitCodeForKind('rkt', k), 254);
    assert.equal(exitCodeOf('rkt', new RocketError('x', 'not-found')), 254);
    assert.equal(exitCodeOf('rkt', new Error('a bug')), 254);
  });

  it('gives actool and docker2aci the code their command line chose, else 1', () => {
    assert.equal(exitCodeOf('appc', new RocketError('usage', 2)), 2);
    assert.equal(exitCodeOf('appc', new RocketError('x', 'invalid-argument')), 1);
    assert.equal(exitCodeOf('appc', new Error('a bug')), 1);
  });

  it('maps each kind to its gRPC status, for the API service and the CRI alike', () => {
    const want: Record<string, grpc.status> = {
      'invalid-argument': grpc.status.INVALID_ARGUMENT,
      'not-found': grpc.status.NOT_FOUND,
      'already-exists': grpc.status.ALREADY_EXISTS,
      'failed-precondition': grpc.status.FAILED_PRECONDITION,
      'permission-denied': grpc.status.PERMISSION_DENIED,
      unavailable: grpc.status.UNAVAILABLE,
      internal: grpc.status.INTERNAL,
      unknown: grpc.status.UNKNOWN,
    };
    for (const k of ERROR_KINDS) assert.equal(grpcStatusOf(k), want[k], k);
    assert.deepEqual(toServiceError(new RocketError('pod "p" is gone', 'not-found')), {
      code: grpc.status.NOT_FOUND,
      details: 'pod "p" is gone',
    });
    assert.deepEqual(toServiceError(new ApiError(grpc.status.ABORTED, 'busy')), {
      code: grpc.status.ABORTED,
      details: 'busy',
    });
    assert.equal(toServiceError(new Error('a bug')).code, grpc.status.INTERNAL);
  });

  it('tells an error that is already a rkt failure from one that needs wrapping', () => {
    assert.equal(isRktFailure(new RocketError('x', 'not-found')), true);
    assert.equal(isRktFailure(new RocketError('x', 254)), true);
    assert.equal(isRktFailure(new RocketError('x', 1)), false);
    assert.equal(isRktFailure(new Error('x')), false);
  });
});
