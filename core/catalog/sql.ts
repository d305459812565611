/**
 * The catalog's view of an SQL database: just enough of SQLite to run the schema and the
 * queries in core/catalog/, so that code stays portable. The host supplies it
 * (core/host/sqlite.ts wraps `node:sqlite`, which Node 24 and Deno 2 both provide).
 *
 * Every method is synchronous, like SQLite itself: a transaction is a synchronous block
 * (`transaction`), so no other code can run on the connection between BEGIN and COMMIT.
 */

/** A value bound to or read from a column. */
export type SqlValue = string | number | bigint | Uint8Array | null;

/** A result row: column name → value. */
export type SqlRow = Readonly<Record<string, SqlValue>>;

export interface SqlDatabase {
  /** Where the database lives, for messages. */
  readonly location: string;
  /** Runs one or more statements without parameters (schema, pragmas). */
  exec(sql: string): void;
  /** Runs one statement; returns the number of rows it changed. */
  run(sql: string, ...params: SqlValue[]): { readonly changes: number };
  /** The first row of a query, or undefined. */
  get(sql: string, ...params: SqlValue[]): SqlRow | undefined;
  /** Every row of a query. */
  all(sql: string, ...params: SqlValue[]): SqlRow[];
  close(): void;
}

/**
 * Runs `body` in one transaction. A write transaction (BEGIN IMMEDIATE … COMMIT) takes the
 * write lock at BEGIN, so two processes never both read a row and then both write it (no lost
 * update), and a failure anywhere in `body` rolls everything back. A read transaction sees one
 * consistent state of the database. `body` must be synchronous.
 */
export function transaction<T>(db: SqlDatabase, body: () => T, mode: 'write' | 'read' = 'write'): T {
  db.exec(mode === 'write' ? 'BEGIN IMMEDIATE' : 'BEGIN DEFERRED');
  let result: T;
  try {
    result = body();
    if (result instanceof Promise) throw new Error('internal error: a catalog transaction body must be synchronous');
    db.exec('COMMIT');
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite may already have rolled back (e.g. after an I/O error); the first error matters.
    }
    throw error;
  }
  return result;
}
