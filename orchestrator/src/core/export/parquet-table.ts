/**
 * Parquet files of the trainer exports, written by hyparquet-writer (pure JavaScript, no install scripts, so
 * the CLI and the Lambda bundle need nothing native). Columns are declared with nested types (a list of
 * {role, content} structs, structs, lists of lists), because verl and TRL read `prompt` as chat messages
 * and `reward_model` / `extra_info` as dicts: a JSON string in their place would not load.
 */
import { ByteWriter, parquetWriteRows, type SchemaElement, type Writer } from 'hyparquet-writer';

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

/**
 * Row groups of this many rows: a trainer reads a file whole, so only the writer's memory matters, and the
 * writer holds one row group (its rows and their encoded bytes) at a time.
 */
const ROW_GROUP_ROWS = 2_000;

const ABANDONED = 'the Parquet file was abandoned by its reader';

/**
 * The rows as one Parquet file, in chunks: the bytes of each row group as soon as it is encoded, then the
 * footer. Rows are pulled one row group at a time and the next group is encoded only once the consumer
 * asks for more, so a file of any size is written holding about one row group. hyparquet-writer awaits
 * the promise its writer's flush() returns after every row group, and computes every offset it records
 * from writer.offset (the bytes written so far), not from the buffer, so emptying the buffer at each flush
 * writes the same bytes as one buffer for the whole file.
 */
export async function* parquetChunks(table: TableSchema, rows: AsyncIterable<Record<string, unknown>>): AsyncGenerator<Uint8Array> {
  // flush is the optional hook of hyparquet-writer's Writer that ByteWriter leaves out.
  const writer: ByteWriter & Pick<Writer, 'flush'> = new ByteWriter();
  const ready: Uint8Array[] = [];
  let wakeReader: (() => void) | undefined;
  let resumeWriter: ((go: boolean) => void) | undefined;
  let abandoned = false;
  const take = () => {
    ready.push(writer.getBytes().slice());
    writer.index = 0;
    wakeReader?.();
  };
  writer.flush = () => {
    take();
    if (abandoned) return Promise.reject(new Error(ABANDONED));
    return new Promise<void>((resolve, reject) => {
      resumeWriter = (go) => (go ? resolve() : reject(new Error(ABANDONED)));
    });
  };
  writer.finish = take;
  let ended = false;
  let failure: { error: unknown } | undefined;
  const writing = Promise.resolve()
    .then(() =>
      parquetWriteRows({
        writer,
        rows,
        columns: Object.keys(table).map((name) => ({ name })),
        schema: parquetSchema(table),
        rowGroupSize: ROW_GROUP_ROWS,
      }),
    )
    .catch((error: unknown) => {
      failure = { error };
    })
    .finally(() => {
      ended = true;
      wakeReader?.();
    });
  try {
    for (;;) {
      if (failure !== undefined) throw failure.error;
      const chunk = ready.shift();
      if (chunk !== undefined) {
        yield chunk;
        continue;
      }
      if (ended) return;
      // Everything encoded so far is out: let the writer encode the next row group.
      const resume = resumeWriter;
      resumeWriter = undefined;
      resume?.(true);
      await new Promise<void>((resolve) => {
        wakeReader = resolve;
        if (ready.length > 0 || ended) resolve();
      });
      wakeReader = undefined;
    }
  } finally {
    // A reader that stops early (a failed upload): the writer stops at its next flush instead of waiting for it.
    abandoned = true;
    resumeWriter?.(false);
    await writing;
  }
}
