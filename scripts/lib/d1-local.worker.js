// A local stand-in for a D1 database under plain `workerd serve` (the process tests and
// the bench), where no D1 service exists. The Worker's binding is workerd's own D1
// client (`cloudflare-internal:d1-api`, a wrapped binding); it speaks D1's HTTP protocol
// (`POST /query`, `POST /execute`) to this service, which runs each batch in one
// transaction of a SQLite-backed Durable Object, on disk like the Worker's own objects.
// The migrations (a JSON binding, read from migrations/ by workerd-config.mjs) are applied
// at start, each once, and recorded in `d1_migrations` as `wrangler d1 migrations apply` does.
import { DurableObject } from 'cloudflare:workers';

export class LocalD1 extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(
      'CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TEXT NOT NULL)',
    );
    for (const migration of env.MIGRATIONS ?? []) {
      if (sql.exec('SELECT 1 FROM d1_migrations WHERE name = ?', migration.name).toArray().length > 0)
        continue;
      ctx.storage.transactionSync(() => {
        for (const query of migration.queries) sql.exec(query);
        sql.exec(
          'INSERT INTO d1_migrations (name, applied_at) VALUES (?, ?)',
          migration.name,
          new Date().toISOString(),
        );
      });
    }
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname !== '/query' && url.pathname !== '/execute') {
      return Response.json({ success: false, error: `not supported here: ${url.pathname}` }, { status: 404 });
    }
    const body = await request.json();
    const statements = Array.isArray(body) ? body : [body];
    const rowsWanted = url.searchParams.get('resultsFormat') !== 'NONE';
    const sql = this.ctx.storage.sql;
    try {
      const results = this.ctx.storage.transactionSync(() =>
        statements.map(({ sql: text, params }) => {
          const started = Date.now();
          const cursor = sql.exec(text, ...(params ?? []));
          const rows = [...cursor.raw()].map((row) => row.map(cell));
          const meta = {
            served_by: 'd1-local',
            duration: Date.now() - started,
            changes: cursor.rowsWritten,
            last_row_id: 0,
            changed_db: cursor.rowsWritten > 0,
            size_after: sql.databaseSize,
            rows_read: cursor.rowsRead,
            rows_written: cursor.rowsWritten,
          };
          return rowsWanted
            ? { success: true, results: { columns: cursor.columnNames, rows }, meta }
            : { success: true, meta };
        }),
      );
      return Response.json(Array.isArray(body) ? results : results[0]);
    } catch (error) {
      // D1's failure shape: the client turns it into a `D1_ERROR: ...` exception.
      return Response.json({ success: false, error: String(error?.message ?? error) });
    }
  }
}

/** BLOBs travel as arrays of bytes, the way D1 sends them. */
const cell = (value) => (value instanceof ArrayBuffer ? [...new Uint8Array(value)] : value);

export default {
  fetch(request, env) {
    return env.DATABASE.getByName('db').fetch(request);
  },
};
