/**
 * Parquet files of the trainer exports, written by hyparquet-writer (pure JavaScript, no install scripts, so
 * the CLI and the Lambda bundle need nothing native). Columns are declared with nested types (a list of
 * {role, content} structs, structs, lists of lists), because verl and TRL read `prompt` as chat messages
 * and `reward_model` / `extra_info` as dicts: a JSON string in their place would not load.
 */
import { ByteWriter, parquetWriteRows, type SchemaElement } from 'hyparquet-writer';

export type ColumnType = 'string' | 'int64' | { readonly list: ColumnType } | { readonly struct: Readonly<Record<string, ColumnType>> };

export type TableSchema = Readonly<Record<string, ColumnType>>;

/** Every field is REQUIRED: the exports never hold nulls, and readers then type the columns exactly. */
function elements(name: string, type: ColumnType): SchemaElement[] {
  if (type === 'string') return [{ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' }];
  if (type === 'int64') return [{ name, type: 'INT64', repetition_type: 'REQUIRED' }];
  if ('list' in type)
    // The three-level LIST layout of the Parquet spec, which Arrow (and so `datasets`) reads as list<element>.
    return [
      { name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      ...elements('element', type.list),
    ];
  const fields = Object.entries(type.struct);
  return [
    { name, repetition_type: 'REQUIRED', num_children: fields.length },
    ...fields.flatMap(([field, inner]) => elements(field, inner)),
  ];
}

export function parquetSchema(table: TableSchema): SchemaElement[] {
  const columns = Object.entries(table);
  return [{ name: 'root', num_children: columns.length }, ...columns.flatMap(([name, type]) => elements(name, type))];
}

/** Row groups of this many rows: a trainer reads a file whole, so only the writer's memory matters. */
const ROW_GROUP_ROWS = 2_000;

/** The rows as one Parquet file; rows are pulled one row group at a time, so only the output is held whole. */
export async function parquetBytes(table: TableSchema, rows: AsyncIterable<Record<string, unknown>>): Promise<Uint8Array> {
  const writer = new ByteWriter();
  await parquetWriteRows({
    writer,
    rows,
    columns: Object.keys(table).map((name) => ({ name })),
    schema: parquetSchema(table),
    rowGroupSize: ROW_GROUP_ROWS,
  });
  return writer.getBytes();
}
