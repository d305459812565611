/**
 * The catalog's door to SQLite: `node:sqlite` (DatabaseSync), built into Node 24 and Deno 2
 * with the same API, so there is no native addon to build and the same SQL runs on both.
 * Every SQLite failure becomes CATALOG_FAILED naming the database file; SQLite's messages
 * name tables and columns, never bound values, so no secret reaches an error.
 */
import { DatabaseSync } from 'node:sqlite';
import { BunkerError } from '../errors.ts';
import type { SqlDatabase, SqlRow, SqlValue } from '../catalog/sql.ts';

/** How long a writer waits for another process's transaction before giving up (CATALOG_FAILED). FORMAT.md §15.3 */
export const BUSY_TIMEOUT_MS = 15_000;

function failed(location: string, error: unknown): never {
  if (error instanceof BunkerError) throw error;
  const message = error instanceof Error ? error.message : String(error);
  throw new BunkerError('CATALOG_FAILED', `the product database ${location} failed: ${message}`, { cause: error });
}

function isBusy(error: unknown): boolean {
  const e = error as { errcode?: number; message?: string } | null;
  return e?.errcode === 5 || e?.errcode === 6 || /database is locked|database table is locked/.test(e?.message ?? '');
}

/**
 * Switching a new database to WAL needs an exclusive lock, and SQLite does not run the busy
 * handler for it: two processes opening a fresh database at once would see "database is
 * locked". Retry briefly, sleeping synchronously (the adapter is synchronous throughout).
 */
function setWalMode(db: DatabaseSync): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.exec('PRAGMA journal_mode = WAL');
      return;
    } catch (error) {
      if (!isBusy(error) || Date.now() > deadline) throw error;
      Atomics.wait(pause, 0, 0, 10 + Math.floor(Math.random() * 20));
    }
  }
}

/**
 * Opens (creating if absent) the SQLite database at `path`: WAL journal (readers do not block
 * the writer, and a crash mid-transaction leaves the last committed state), synchronous FULL
 * (a committed transaction survives power loss), foreign keys enforced, and a busy timeout so
 * concurrent writers wait for each other instead of failing.
 */
export function openSqliteDatabase(path: string): SqlDatabase {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    setWalMode(db);
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA foreign_keys = ON');
  } catch (error) {
    failed(path, error);
  }
  const statement = (sql: string) => db.prepare(sql);
  return {
    location: path,
    exec(sql) {
      try {
        db.exec(sql);
      } catch (error) {
        failed(path, error);
      }
    },
    run(sql, ...params) {
      try {
        const result = statement(sql).run(...(params as SqlValue[] as never[]));
        return { changes: Number(result.changes) };
      } catch (error) {
        failed(path, error);
      }
    },
    get(sql, ...params) {
      try {
        return statement(sql).get(...(params as never[])) as SqlRow | undefined;
      } catch (error) {
        failed(path, error);
      }
    },
    all(sql, ...params) {
      try {
        return statement(sql).all(...(params as never[])) as SqlRow[];
      } catch (error) {
        failed(path, error);
      }
    },
    close() {
      try {
        if (db.isOpen) db.close();
      } catch (error) {
        failed(path, error);
      }
    },
  };
}
