/**
 * The export's data files are streamed: Parquet one row group at a time and JSONL in chunks, handed to the
 * sink while the split file is still being read, with the same bytes as a file built whole in memory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteWriter, parquetWriteRows } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { FORMAT_LAYOUTS, type ExportFormat } from '../../orchestrator/src/core/export/export-formats.ts';
import { parquetChunks, parquetSchema } from '../../orchestrator/src/core/export/parquet-table.ts';
import { exportRun, type ExportSource } from '../../orchestrator/src/core/export/run-export.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { readParquet } from './parquet-reader.ts';

const scratch = mkdtempSync(join(tmpdir(), 'raiden-streamed-export-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sample(index: number): Sample {
  const profile = `p${String(Math.floor(index / 3)).padStart(5, '0')}`;
  return {
    id: `${profile}/SBK/${index % 3}`,
    character_name: `Character ${profile}`,
    character_profile: { name: `Character ${profile}`, bio: `a baker in Tallinn, number ${index}` },
    conversation_history: [],
    question: `Where do you bake, ${profile}? (${index})`,
    reasoning: 'I say "Tallinn".',
    answer: 'In Tallinn, of course.',
    keywords: ['Tallinn'],
    keyword_alternatives: [[]],
    question_type: 'where',
    validation_method: 'single_term_validation',
    difficulty: 'easy',
    metadata: {
      kind: 'SBK',
      backend: 'sglang',
      model: 'qwen',
      language: 'en',
      strategy: 'sglang',
      generated_at: '2025-01-01T00:00:00Z',
      usage: { input_tokens: 100, output_tokens: 10 },
      attempt: 1,
      focus: 'field:bio|where',
    },
  };
}

/**
 * A finished run of `count` training samples (three per profile) whose train.json and profiles.jsonl are
 * made line by line, counting the lines read of each.
 */
function countingRun(count: number): { source: ExportSource; linesRead: () => number; profilesRead: () => number } {
  let read = 0;
  let profilesRead = 0;
  const profiles = Math.ceil(count / 3);
  const source: ExportSource = {
    location: 'memory://run/',
    readJson: async () => undefined,
    readLines: async (name) => {
      if (name === 'validation.json') return (async function* () {})();
      if (name === 'profiles.jsonl')
        return (async function* () {
          for (let index = 0; index < profiles; index++) {
            profilesRead++;
            const id = sample(index * 3).id.split('/')[0] as string;
            yield JSON.stringify({ id, name: `Character ${id}`, language: 'en', text: `the table's text of ${id}` });
          }
        })();
      if (name !== 'train.json') return undefined;
      return (async function* () {
        yield '[';
        for (let index = 0; index < count; index++) {
          read++;
          yield `${JSON.stringify(sample(index))}${index < count - 1 ? ',' : ''}`;
        }
        yield ']';
      })();
    },
  };
  return { source, linesRead: () => read, profilesRead: () => profilesRead };
}

describe('Parquet written one row group at a time', () => {
  it('gives the same bytes as the whole file written into one buffer, and DuckDB reads every row back', async () => {
    const layout = FORMAT_LAYOUTS.verl;
    const table = layout.table as NonNullable<typeof layout.table>;
    // 4,500 rows: two full row groups of 2,000 and a short one.
    const rows = Array.from({ length: 4_500 }, (_, index) =>
      layout.row({
        sample: sample(index),
        profile: { name: 'x', language: 'en', text: `profile ${index}` },
        split: 'train',
        index,
      }),
    );
    const whole = new ByteWriter();
    await parquetWriteRows({
      writer: whole,
      rows: (async function* () {
        yield* rows;
      })(),
      columns: Object.keys(table).map((name) => ({ name })),
      schema: parquetSchema(table),
      rowGroupSize: 2_000,
    });
    const chunks: Uint8Array[] = [];
    for await (const chunk of parquetChunks(
      table,
      (async function* () {
        yield* rows;
      })(),
    ))
      chunks.push(chunk);
    // One chunk per row group, then the footer.
    expect(chunks).toHaveLength(4);
    const streamed = Buffer.concat(chunks);
    expect(streamed.equals(Buffer.from(whole.getBytes()))).toBe(true);

    const file = join(scratch, 'streamed.parquet');
    writeFileSync(file, streamed);
    const read = await readParquet(file);
    expect(read.rows).toHaveLength(4_500);
    expect((read.rows[4_499]?.extra_info as { id: string }).id).toBe(sample(4_499).id);
  });

  it('stops encoding when its reader stops, and reports a failing source to the reader', async () => {
    const table = FORMAT_LAYOUTS.easyr1.table as NonNullable<(typeof FORMAT_LAYOUTS)['easyr1']['table']>;
    let pulled = 0;
    const endless = (async function* () {
      for (;;) {
        pulled++;
        yield { prompt: 'p', answer: 'a', id: String(pulled) };
      }
    })();
    for await (const chunk of parquetChunks(table, endless)) {
      expect(chunk.byteLength).toBeGreaterThan(0);
      break;
    }
    // The first row group and at most the next one were pulled: the reader's break ended the writer.
    expect(pulled).toBeLessThanOrEqual(4_001);

    const failure = new Error('train.json went away');
    const failing = (async function* () {
      yield { prompt: 'p', answer: 'a', id: '1' };
      throw failure;
    })();
    await expect(
      (async () => {
        for await (const _chunk of parquetChunks(table, failing));
      })(),
    ).rejects.toBe(failure);
  });
});

describe('an export hands its data files to the sink while the run and its profile table are read', () => {
  it.each<ExportFormat>(['verl', 'sft'])(
    '%s: the first bytes of the training file arrive before the last sample and the last profile are read',
    async (format) => {
      const count = 2_500;
      const { source, linesRead, profilesRead } = countingRun(count);
      const firstChunkAt = new Map<string, number>();
      let profilesAtFirstChunk = 0;
      const files = new Map<string, Buffer>();
      const summary = await exportRun(
        source,
        {
          location: 'memory://export/',
          write: async (name, body) => {
            if (typeof body === 'string' || body instanceof Uint8Array) {
              files.set(name, Buffer.from(body));
              return;
            }
            const chunks: Buffer[] = [];
            for await (const chunk of body) {
              if (!firstChunkAt.has(name)) {
                firstChunkAt.set(name, linesRead());
                profilesAtFirstChunk = profilesRead();
              }
              chunks.push(Buffer.from(chunk));
            }
            files.set(name, Buffer.concat(chunks));
          },
        },
        { format, now: () => new Date('2026-02-01T00:00:00Z') },
      );
      expect(summary.rows).toEqual({ train: count, validation: 0 });
      // Every prompt holds the table's text, read as the samples needed it: not the whole table first.
      expect(summary.renderedProfiles).toBe(0);
      expect(profilesAtFirstChunk).toBeGreaterThan(0);
      expect(profilesAtFirstChunk).toBeLessThan(Math.ceil(count / 3));
      const name = format === 'sft' ? 'train.jsonl' : 'train.parquet';
      expect(firstChunkAt.get(name)).toBeLessThan(count);
      expect(linesRead()).toBe(count);
      if (format === 'sft') {
        const lines = (files.get(name) as Buffer).toString('utf8').split('\n');
        expect(lines.at(-1)).toBe('');
        expect(lines.slice(0, -1).map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(
          Array.from({ length: count }, (_, index) => sample(index).id),
        );
      } else {
        const file = join(scratch, `${format}-train.parquet`);
        writeFileSync(file, files.get(name) as Buffer);
        expect((await readParquet(file)).rows).toHaveLength(count);
      }
    },
  );

  it('a sink that fails mid-file fails the export with its error, and the rest of the run is not read', async () => {
    const { source, linesRead } = countingRun(10_000);
    const failure = new Error('upload refused');
    await expect(
      exportRun(
        source,
        {
          location: 'memory://export/',
          write: async (_name, body) => {
            if (typeof body === 'string' || body instanceof Uint8Array) return;
            for await (const _chunk of body) throw failure;
          },
        },
        { format: 'trl' },
      ),
    ).rejects.toBe(failure);
    expect(linesRead()).toBeLessThan(10_000);
  });
});
