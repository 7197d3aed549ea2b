/**
 * The swap `raiden reverify` rewrites a run with, cut short at each point a crash can hit: before the swap
 * the old run is intact and the staging is dropped; in the middle the journal lets the next open finish it.
 */
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CopyObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { RunFileError } from '../../orchestrator/src/core/ports/run-store.ts';
import { LocalRunRewrite, recoverLocalRewrite, writeCommitJournal } from '../../orchestrator/src/store/local-run-rewrite.ts';
import { S3RunRewrite, recoverS3Rewrite, writeS3CommitJournal } from '../../orchestrator/src/store/s3-run-rewrite.ts';
import { S3RunStore } from '../../orchestrator/src/store/s3-run-store.ts';
import { startLocalS3, type LocalS3 } from '../support/local-s3.ts';

const sample = (id: string, question: string) => ({ id, question, metadata: { kind: 'SBK' } }) as unknown as Sample;

/** A run directory with an old version of each rewritten file. */
function oldRun(): string {
  const dir = mkdtempSync(join(tmpdir(), 'raiden-rewrite-'));
  for (const [name, text] of Object.entries({
    'run.json': '{"run_id": "r"}\n',
    'samples.jsonl': `${JSON.stringify(sample('a/SBK/0', 'old'))}\n`,
    'rejects.jsonl': '',
    'report.json': '{"version": "old"}\n',
  }))
    writeFileSync(join(dir, name), text);
  return dir;
}
const snapshot = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => [entry.name, readFileSync(join(dir, entry.name), 'utf8')]),
  );

async function stageNew(rewrite: LocalRunRewrite | S3RunRewrite): Promise<void> {
  await rewrite.staged.appendSample(sample('a/SBK/0', 'new'));
  await rewrite.staged.writeJson('report.json', { version: 'new' });
}

describe('rewriting a run directory', () => {
  it('a crash before the swap leaves the old run as it was, and the next open drops the staging', async () => {
    const dir = oldRun();
    const before = snapshot(dir);
    await stageNew(await LocalRunRewrite.open(dir));
    expect(await recoverLocalRewrite(dir)).toBe('dropped');
    expect(snapshot(dir)).toEqual(before);
  });

  it('a crash in the middle of the swap is finished by the next open', async () => {
    const dir = oldRun();
    const rewrite = await LocalRunRewrite.open(dir);
    await stageNew(rewrite);
    rewrite.staged.close();
    // What commit does up to its first rename, then the process dies.
    const staging = join(dir, '.reverify');
    await writeCommitJournal(dir);
    renameSync(join(staging, 'report.json'), join(dir, 'report.json'));
    expect(await recoverLocalRewrite(dir)).toBe('finished');
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'))).toEqual({ version: 'new' });
    expect(readFileSync(join(dir, 'samples.jsonl'), 'utf8')).toContain('"new"');
    expect(existsSync(staging)).toBe(false);
    expect(readFileSync(join(dir, 'run.json'), 'utf8')).toBe('{"run_id": "r"}\n');
  });

  it('a run file changed after the journal was written is never overwritten: the swap is refused, every file kept', async () => {
    const dir = oldRun();
    const rewrite = await LocalRunRewrite.open(dir);
    await stageNew(rewrite);
    rewrite.staged.close();
    await writeCommitJournal(dir);
    // Killed here; then a writer that does not finish the swap appends a sample to the live file.
    appendFileSync(join(dir, 'samples.jsonl'), `${JSON.stringify(sample('b/SBK/0', 'appended'))}\n`);
    const before = snapshot(dir);
    await expect(recoverLocalRewrite(dir)).rejects.toThrow(
      new RegExp(
        `${join(dir, 'samples.jsonl')} changed after an interrupted raiden reverify staged its replacement.*delete ${join(dir, '.reverify')}`,
        'u',
      ),
    );
    await expect(recoverLocalRewrite(dir)).rejects.toBeInstanceOf(RunFileError);
    expect(snapshot(dir)).toEqual(before);
    expect(existsSync(join(dir, '.reverify', 'samples.jsonl'))).toBe(true);
  });

  it('a journal that does not say how the run files looked (an older raiden) is refused, not replayed', async () => {
    const dir = oldRun();
    const rewrite = await LocalRunRewrite.open(dir);
    await stageNew(rewrite);
    rewrite.staged.close();
    const staging = join(dir, '.reverify');
    writeFileSync(join(staging, 'commit.json'), JSON.stringify({ files: readdirSync(staging) }));
    const before = snapshot(dir);
    await expect(recoverLocalRewrite(dir)).rejects.toThrow(/the journal, of an older raiden, does not say how it looked/u);
    expect(snapshot(dir)).toEqual(before);
  });

  it('commit swaps every staged file in at once', async () => {
    const dir = oldRun();
    const rewrite = await LocalRunRewrite.open(dir);
    await stageNew(rewrite);
    await rewrite.commit();
    expect(snapshot(dir)).toMatchObject({ 'rejects.jsonl': '', 'run.json': '{"run_id": "r"}\n' });
    expect(readFileSync(join(dir, 'samples.jsonl'), 'utf8')).toContain('"new"');
    expect(readdirSync(dir).sort()).toEqual(['rejects.jsonl', 'report.json', 'run.json', 'samples.jsonl']);
  });
});

describe('rewriting a run in S3', () => {
  let s3: LocalS3;
  const BUCKET = 'raiden-rewrite-test';
  beforeAll(async () => {
    s3 = await startLocalS3([BUCKET]);
  });
  afterAll(async () => {
    await s3.close();
  });
  const keys = async (prefix: string) =>
    ((await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? [])
      .map((object) => object.Key ?? '')
      .sort();
  const text = async (key: string) =>
    (await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString()) ?? '';

  /** A finished workflow run: one sample in each of two batch partitions, the consolidated files, a report. */
  async function oldS3Run(prefix: string): Promise<void> {
    for (const batch of ['b00000', 'b00001']) {
      await new S3RunStore({ client: s3.client, bucket: BUCKET, prefix, partition: batch }).appendSample(sample(`${batch}/SBK/0`, 'old'));
    }
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}report.json`, Body: '{"version": "old"}' }));
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}run.json`, Body: '{"run_id": "r"}' }));
  }

  it('a crash before the swap leaves the old run, and the next open drops the staging', async () => {
    const prefix = 'runs/before/';
    await oldS3Run(prefix);
    const before = await keys(prefix);
    await stageNew(await S3RunRewrite.open({ client: s3.client, bucket: BUCKET, prefix }));
    expect(await recoverS3Rewrite({ client: s3.client, bucket: BUCKET, prefix })).toBe('dropped');
    expect(await keys(prefix)).toEqual(before);
    expect(await text(`${prefix}report.json`)).toBe('{"version": "old"}');
  });

  it('commit replaces the files and the per-record parts; a swap cut short is finished by the next open', async () => {
    const prefix = 'runs/middle/';
    await oldS3Run(prefix);
    const rewrite = await S3RunRewrite.open({ client: s3.client, bucket: BUCKET, prefix });
    await stageNew(rewrite);
    await rewrite.staged.consolidate();
    // What commit does up to its first copy, then the process dies.
    await writeS3CommitJournal({ client: s3.client, bucket: BUCKET, prefix });
    await s3.client.send(
      new CopyObjectCommand({ Bucket: BUCKET, Key: `${prefix}report.json`, CopySource: `${BUCKET}/${prefix}.reverify/report.json` }),
    );
    expect(await recoverS3Rewrite({ client: s3.client, bucket: BUCKET, prefix })).toBe('finished');

    expect(await keys(`${prefix}.reverify/`)).toEqual([]);
    expect(JSON.parse(await text(`${prefix}report.json`))).toEqual({ version: 'new' });
    expect(await text(`${prefix}samples.jsonl`)).toContain('"new"');
    expect(await keys(`${prefix}parts/samples/`)).toEqual([`${prefix}parts/samples/reverify/a/SBK/0.json`]);
    const run = new S3RunStore({ client: s3.client, bucket: BUCKET, prefix });
    const samples: Sample[] = [];
    for await (const one of run.readSamples()) samples.push(one);
    expect(samples.map((one) => [one.id, one.question])).toEqual([['a/SBK/0', 'new']]);
    expect(await text(`${prefix}run.json`)).toBe('{"run_id": "r"}');
  });

  it('a part added after the journal was written is never deleted: the swap is refused, every object kept', async () => {
    const prefix = 'runs/appended/';
    await oldS3Run(prefix);
    const rewrite = await S3RunRewrite.open({ client: s3.client, bucket: BUCKET, prefix });
    await stageNew(rewrite);
    await rewrite.staged.consolidate();
    await writeS3CommitJournal({ client: s3.client, bucket: BUCKET, prefix });
    // Killed here; then a writer that does not finish the swap (an execution resumed) appends a sample.
    await new S3RunStore({ client: s3.client, bucket: BUCKET, prefix, partition: 'b00002' }).appendSample(sample('b00002/SBK/0', 'later'));
    const before = await keys(prefix);
    await expect(recoverS3Rewrite({ client: s3.client, bucket: BUCKET, prefix })).rejects.toThrow(
      new RegExp(`s3://${BUCKET}/${prefix}parts/samples/b00002/\\S+ was added after an interrupted raiden reverify`, 'u'),
    );
    expect(await keys(prefix)).toEqual(before);
  });
});
