import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { core, ZodType } from 'zod';
import { ApiError } from '../errors';

/**
 * `zValidator` with the project's one validation error: `400 VALIDATION_ERROR`
 * naming the first offending field. Handlers read input only via `c.req.valid(...)`.
 */
export function validate<Target extends keyof ValidationTargets, Schema extends ZodType>(
  target: Target,
  schema: Schema,
) {
  return zValidator(target, schema, (result) => {
    if (result.success) return;
    throw validationError(result.error.issues[0]);
  });
}

/** The 400 for one zod issue; unknown keys are named as the field. */
export function validationError(issue: core.$ZodIssue | undefined): ApiError {
  if (!issue) return new ApiError(400, 'VALIDATION_ERROR', 'Invalid request.');
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0] ?? ''].join('.');
    return new ApiError(400, 'VALIDATION_ERROR', `Unknown field: ${field}.`, { field });
  }
  const field = path.join('.');
  if (!field) return new ApiError(400, 'VALIDATION_ERROR', issue.message);
  return new ApiError(400, 'VALIDATION_ERROR', `${field}: ${issue.message}`, { field });
}
