/**
 * One small helper over the Durable Object's SQLite storage: `?` parameters only, and errors that
 * carry the query (agents' SqlError), so a failure says which statement broke.
 */
import { AppError } from "./errors.ts";

export type SqlValue = string | number | null | ArrayBuffer;
export type Row = Record<string, SqlValue>;

export class SqlError extends AppError {
  override readonly name = "SqlError";
  constructor(
    readonly query: string,
    options: { cause: unknown },
  ) {
    super(`SQL failed: ${query.replace(/\s+/g, " ").slice(0, 200)}: ${String((options.cause as Error)?.message ?? options.cause)}`, options);
  }
}

export class Sql {
  constructor(private readonly storage: SqlStorage) {}

  /** All rows of a query. */
  all<T extends object = Row>(query: string, ...params: SqlValue[]): T[] {
    try {
      return this.storage.exec(query, ...params).toArray() as unknown as T[];
    } catch (cause) {
      throw new SqlError(query, { cause });
    }
  }

  /** The first row, or null. */
  one<T extends object = Row>(query: string, ...params: SqlValue[]): T | null {
    return this.all<T>(query, ...params)[0] ?? null;
  }

  /** Runs a statement; returns the number of rows written. */
  run(query: string, ...params: SqlValue[]): number {
    try {
      return this.storage.exec(query, ...params).rowsWritten;
    } catch (cause) {
      throw new SqlError(query, { cause });
    }
  }
}
