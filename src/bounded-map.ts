/**
 * A `Map` that holds at most `max` entries: adding a new key to a full map drops the
 * oldest one. The isolate-level caches use it, so no cache grows with the number of
 * users, tokens or accounts an isolate happens to see.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly max: number;

  constructor(max: number) {
    super();
    this.max = max;
  }

  override set(key: K, value: V): this {
    if (this.size >= this.max && !this.has(key)) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}
