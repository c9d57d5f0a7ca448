import { ApiError } from './errors';

/** `type/subtype` as RFC 9110 spells a media type's essence (tokens on both sides of the slash). */
const ESSENCE = /^[a-z0-9!#$%&'*+.^_`|~-]+\/[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** The JSON media types the session routes' validators parse: `application/json`, `application/<x>+json`. */
const JSON_ESSENCE = /^application\/([a-z0-9!#$%&'*.^_`|~-]+\+)?json$/;

/**
 * The essence of a `Content-Type` header (`type/subtype`, lower case, its parameters
 * dropped), or `undefined` when there is no header or it does not start with one.
 */
export function mediaEssence(header: string | null | undefined): string | undefined {
  if (header === null || header === undefined) return undefined;
  const essence = (header.split(';', 1)[0] ?? '').trim().toLowerCase();
  return ESSENCE.test(essence) ? essence : undefined;
}

/** Whether `header` declares JSON as the session routes read it (parameters such as `charset` allowed). */
export function isJsonMediaType(header: string | null | undefined): boolean {
  const essence = mediaEssence(header);
  return essence !== undefined && JSON_ESSENCE.test(essence);
}

/** The one 415 of the gateway, whichever route refuses the body's `Content-Type`. */
export function wrongMediaType(): ApiError {
  return new ApiError('UNSUPPORTED_MEDIA_TYPE', 'The body has the wrong Content-Type for this route.');
}
