/** Reads Parquet files back with DuckDB, an engine independent of the writer (hyparquet-writer). */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

export interface ParquetContent {
  /** Column name to DuckDB type, e.g. `STRUCT("role" VARCHAR, "content" VARCHAR)[]`. */
  readonly schema: Record<string, string>;
  /** Rows as JSON values (BIGINT as a decimal string). */
  readonly rows: Record<string, unknown>[];
}

let connection: Promise<DuckDBConnection> | undefined;

export async function readParquet(path: string): Promise<ParquetContent> {
  connection ??= DuckDBInstance.create(':memory:').then((instance) => instance.connect());
  const db = await connection;
  const quoted = `'${path.replace(/'/gu, "''")}'`;
  const described = await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${quoted})`);
  const schema = Object.fromEntries(described.getRowObjectsJson().map((row) => [String(row.column_name), String(row.column_type)]));
  const read = await db.runAndReadAll(`SELECT * FROM read_parquet(${quoted})`);
  return { schema, rows: read.getRowObjectsJson() as Record<string, unknown>[] };
}
