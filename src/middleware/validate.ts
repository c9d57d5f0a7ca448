import type { core } from 'zod';
import { ApiError } from '../errors';

/** The 400 for one zod issue; unknown keys are named as the field. */
export function validationError(issue: core.$ZodIssue | undefined): ApiError {
  if (!issue) return new ApiError('VALIDATION_ERROR', 'Invalid request.');
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0] ?? ''].join('.');
    return new ApiError('VALIDATION_ERROR', `Unknown field: ${field}.`, { field });
  }
  const field = path.join('.');
  if (!field) return new ApiError('VALIDATION_ERROR', issue.message);
  return new ApiError('VALIDATION_ERROR', `${field}: ${issue.message}`, { field });
}
