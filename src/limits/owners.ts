import { BoundedMap } from '../bounded-map';

/** Owners an isolate remembers at once. */
const MAX_OWNERS = 50_000;

/**
 * The threads (and files) an isolate has seen the tenant's state confirm as a user's.
 * Ownership never moves to another user (an id reissued to another user is refused at
 * creation), so a confirmed owner stays true until the thread is deleted, and a deleted
 * thread's read is answered 404 by the upstream: nothing here needs invalidating across
 * isolates. Deleting forgets it in the isolate that deleted it.
 */
export class Owners {
  readonly #owners = new BoundedMap<string, true>(MAX_OWNERS);

  has(tenant: string, user: string, kind: 'thread' | 'file', id: string): boolean {
    return this.#owners.has(ownerKey(tenant, user, kind, id));
  }

  add(tenant: string, user: string, kind: 'thread' | 'file', id: string): void {
    this.#owners.set(ownerKey(tenant, user, kind, id), true);
  }

  forget(tenant: string, user: string, kind: 'thread' | 'file', id: string): void {
    this.#owners.delete(ownerKey(tenant, user, kind, id));
  }
}

const ownerKey = (tenant: string, user: string, kind: string, id: string) =>
  `${tenant}\u0000${user}\u0000${kind}\u0000${id}`;
