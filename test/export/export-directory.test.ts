/**
 * Where `raiden export` writes: a directory of other files is refused, an earlier export is replaced as a
 * whole (no file of it stays beside the new one), a failure mid-export leaves `--out` as it was, and a run
 * that a live process or a running workflow execution writes, or whose reverify swap was cut short, is refused,
 * from a run directory and from a run's S3 prefix alike.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../orchestrator/src/cli/cli-io.ts';
import { EXPORT_MARKER, openExportDirectory, WORK_MARKER } from '../../orchestrator/src/cli/export-directory.ts';
import { runExport } from '../../orchestrator/src/cli/export-command.ts';
import { processWriter } from '../../orchestrator/src/cli/process-writer.ts';
import { RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import { WRITER_LEASE } from '../../orchestrator/src/core/run/run-manifest.ts';
import { UsageError } from '../../orchestrator/src/cli/usage-error.ts';
import { startLocalS3, type LocalS3 } from '../support/local-s3.ts';
import { ROOT, runCli } from '../support/run-cli.ts';
import { makeRun } from './export-run.ts';

const io: CliIo = { stdout: { write: () => true }, stderr: { write: () => true } };
const PROFILES = join(ROOT, 'examples/profiles.en.jsonl');

let root: string;
/** A run with a validation split, and one without. */
let withValidation: string;
let trainOnly: string;
const listing = (dir: string) => readdirSync(dir).sort();
/** Hidden staging directories left beside `--out`. */
const leftovers = (parent: string) => readdirSync(parent).filter((name) => name.includes('.export-'));

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'raiden-export-out-'));
  withValidation = join(root, 'runs', 'a');
  trainOnly = join(root, 'runs', 'b');
  await makeRun({ directory: withValidation, profiles: PROFILES, validationRatio: 0.5 });
  await makeRun({ directory: trainOnly, profiles: PROFILES, validationRatio: 0 });
});

describe('raiden export --out', () => {
  it("refuses a directory of the user's files and leaves them as they were", async () => {
    const out = join(root, 'project');
    mkdirSync(out);
    writeFileSync(join(out, 'README.md'), '# my project\n');
    writeFileSync(join(out, 'train.parquet'), 'mine');
    await expect(runExport({ run: withValidation, format: 'verl', out }, io)).rejects.toThrow(
      /--out \S+project holds files that are not a raiden export \(README\.md, train\.parquet\): give a new or empty directory/u,
    );
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toBe('# my project\n');
    expect(readFileSync(join(out, 'train.parquet'), 'utf8')).toBe('mine');
    expect(leftovers(root)).toEqual([]);
  });

  it('replaces an earlier export as a whole: its validation file does not stay beside an export without one', async () => {
    const out = join(root, 'exports', 'verl');
    await runExport({ run: withValidation, format: 'verl', out }, io);
    expect(listing(out)).toContain('validation.parquet');
    await runExport({ run: trainOnly, format: 'verl', out }, io);
    expect(listing(out)).not.toContain('validation.parquet');
    const marker = JSON.parse(readFileSync(join(out, EXPORT_MARKER), 'utf8')) as { files: string[]; run: string };
    expect([EXPORT_MARKER, ...marker.files].sort()).toEqual(listing(out));
    expect(marker.run).toBe(`${trainOnly}/`);
    expect(leftovers(join(root, 'exports'))).toEqual([]);

    // A file the user added to an export is not the export's to replace.
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await expect(runExport({ run: withValidation, format: 'verl', out }, io)).rejects.toThrow(
      /an earlier raiden export did not write \(notes\.txt\)/u,
    );
  });

  it('a failure in the middle leaves the earlier export whole and no staging behind', async () => {
    const out = join(root, 'exports', 'trl');
    await runExport({ run: withValidation, format: 'trl', out }, io);
    const before = Object.fromEntries(listing(out).map((name) => [name, readFileSync(join(out, name))]));
    const broken = join(root, 'runs', 'broken');
    await makeRun({ directory: broken, profiles: PROFILES, validationRatio: 0.5 });
    // train.json reads fine and is written to staging first; validation.json then fails the export.
    writeFileSync(join(broken, RUN_FILES.validation), '[\n{"id": \n]\n');
    await expect(runExport({ run: broken, format: 'trl', out }, io)).rejects.toThrow(/validation\.json has a line that is not JSON/u);
    expect(Object.fromEntries(listing(out).map((name) => [name, readFileSync(join(out, name))]))).toEqual(before);
    expect(leftovers(join(root, 'exports'))).toEqual([]);
  });

  it('naming a file exits 2 with a message; naming the directory you are in is refused before anything is written', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    const result = await runCli(['export', '--run', withValidation, '--format', 'sft', '--out', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `raiden: --out ${file} is a file, not a directory: give the path of a directory for the export (created when missing)\n`,
    );
    const here = mkdtempSync(join(root, 'cwd-'));
    const inCwd = await runCli(['export', '--run', withValidation, '--format', 'sft', '--out', '.'], here);
    expect(inCwd.code).toBe(2);
    expect(inCwd.stderr).toContain('--out . is the directory you are in');
    expect(readdirSync(root).filter((name) => name.startsWith('.'))).toEqual([]);
  });
});

describe('what a killed raiden export leaves beside --out', () => {
  /** Makes the work directory `work` look like one whose export was killed: its process no longer runs. */
  const orphan = (work: string) => {
    const marker = JSON.parse(readFileSync(join(work, WORK_MARKER), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(work, WORK_MARKER), JSON.stringify({ ...marker, pid: 2 ** 22 + 1 }));
  };
  const workOf = (parent: string, before: readonly string[]) =>
    join(
      parent,
      leftovers(parent).find((name) => !before.includes(name))!,
    );

  it('the next export into the same --out removes it, puts back an earlier export a kill displaced, and says where the rest is', async () => {
    const parent = join(root, 'killed');
    const out = join(parent, 'verl');
    await runExport({ run: withValidation, format: 'verl', out }, io);
    const earlier = Object.fromEntries(listing(out).map((name) => [name, readFileSync(join(out, name))]));

    // Killed while writing its files, and killed between the two renames of its commit: --out moved into its
    // work directory, the new export not yet in place.
    const writing = await openExportDirectory(out);
    await writing.sink.write('train.parquet', 'half written');
    const first = workOf(parent, []);
    const committing = await openExportDirectory(out);
    await committing.sink.write('train.parquet', 'whole');
    const second = workOf(parent, [basename(first)]);
    renameSync(out, join(second, 'old'));
    orphan(first);
    orphan(second);
    // Not recognisably an export's: a directory without the marker (as an older raiden left them), and a user's file.
    mkdirSync(join(parent, '.verl.export-abc123.replaced'));
    writeFileSync(join(parent, '.verl.export-abc123.replaced', 'train.parquet'), 'unknown');
    writeFileSync(join(parent, '.verl.export-notes'), 'mine');

    const opened = await openExportDirectory(out);
    await opened.abandon();
    const unknown = `${join(parent, '.verl.export-abc123.replaced')} looks like the work directory of a killed raiden export, but holds no marker of an export into ${out}: delete it if no raiden export runs`;
    const putBack = `put back the earlier export into ${out}, which a killed raiden export had moved to ${second}`;
    expect([...opened.notes].sort()).toEqual(
      [
        unknown,
        putBack,
        `removed ${first}, which a killed raiden export left`,
        `removed ${second}, which a killed raiden export left`,
      ].sort(),
    );
    expect(opened.notes.indexOf(putBack)).toBeLessThan(opened.notes.indexOf(`removed ${second}, which a killed raiden export left`));
    expect(Object.fromEntries(listing(out).map((name) => [name, readFileSync(join(out, name))]))).toEqual(earlier);
    expect(leftovers(parent).sort()).toEqual(['.verl.export-abc123.replaced', '.verl.export-notes']);
    expect(readFileSync(join(parent, '.verl.export-notes'), 'utf8')).toBe('mine');

    // The command prints the notes; a work directory of an export that still runs (this process) is left alone.
    const running = await openExportDirectory(out);
    const stderr: string[] = [];
    await runExport({ run: trainOnly, format: 'verl', out }, { ...io, stderr: { write: (text: string) => stderr.push(text) > 0 } });
    const printed = stderr.join('').split('\n');
    expect(printed).toContain(`raiden: ${unknown}`);
    expect(printed).toContainEqual(
      expect.stringMatching(
        /^raiden: \S+\.verl\.export-\w{6} belongs to raiden export \(pid \d+ .*\), which may still run: left as it is$/u,
      ),
    );
    await running.abandon();
    expect(leftovers(parent).sort()).toEqual(['.verl.export-abc123.replaced', '.verl.export-notes']);
  });
});

describe('raiden export --run', () => {
  it('refuses a run a live process writes, and one whose reverify swap was cut short', async () => {
    const out = join(root, 'exports', 'busy');
    const writer = processWriter('raiden generate');
    writeFileSync(join(withValidation, WRITER_LEASE), JSON.stringify(writer.lease));
    await expect(runExport({ run: withValidation, format: 'sft', out }, io)).rejects.toThrow(
      /is being written by raiden generate \(pid \d+ .*\) since .*: wait for it to finish, then export .*if that process no longer runs .*, delete \S+run\.lock/u,
    );
    writeFileSync(join(withValidation, WRITER_LEASE), JSON.stringify({ ...writer.lease, pid: 2 ** 22 + 1 }));
    mkdirSync(join(withValidation, '.reverify'));
    writeFileSync(join(withValidation, '.reverify', 'commit.json'), '{"files":[]}');
    await expect(runExport({ run: withValidation, format: 'sft', out }, io)).rejects.toThrow(
      /holds the swap of an interrupted raiden reverify/u,
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe('raiden export --run s3://…', () => {
  const BUCKET = 'raiden-outputs-export';
  const PREFIX = 'runs/busy/';
  const EXECUTION = 'arn:aws:states:us-east-1:000000000000:execution:raiden-generation:busy';
  let s3: LocalS3;
  const sfn = mockClient(SFNClient);
  beforeAll(async () => {
    s3 = await startLocalS3([BUCKET]);
    for (const name of readdirSync(trainOnly).filter((entry) => !entry.startsWith('.') && entry !== WRITER_LEASE))
      await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}${name}`, Body: readFileSync(join(trainOnly, name)) }));
  });
  afterAll(async () => {
    sfn.restore();
    await s3?.close();
  });
  const put = (name: string, body: string) => s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}${name}`, Body: body }));
  const remove = (name: string) => s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}${name}` }));
  const exportS3 = (out: string) => runExport({ run: `s3://${BUCKET}/runs/busy`, format: 'sft', out }, io, { s3: s3.client });

  it('refuses a run a running execution holds, and one whose reverify swap in S3 was cut short; exports it once both are over', async () => {
    const out = join(root, 'exports', 'from-s3');
    await put(WRITER_LEASE, JSON.stringify({ writer: EXECUTION, claimed_at: '2026-01-01T00:00:00.000Z' }));
    sfn.on(DescribeExecutionCommand, { executionArn: EXECUTION }).resolves({ status: 'RUNNING' });
    await expect(exportS3(out)).rejects.toThrow(
      new UsageError(
        `--run s3://${BUCKET}/${PREFIX} is being written by ${EXECUTION} since 2026-01-01T00:00:00.000Z: wait for it to end (or stop it), then export: its train.json is rewritten at its end`,
      ),
    );
    // The execution ended: its lease no longer names a writer. A reverify's journal says the swap is half done.
    sfn.on(DescribeExecutionCommand, { executionArn: EXECUTION }).resolves({ status: 'SUCCEEDED' });
    await put('.reverify/commit.json', JSON.stringify({ keys: ['train.json'], parts: [] }));
    await expect(exportS3(out)).rejects.toThrow(
      new UsageError(
        `--run s3://${BUCKET}/${PREFIX} holds the swap of an interrupted raiden reverify: run raiden reverify --run s3://${BUCKET}/runs/busy again to finish it, then export`,
      ),
    );
    expect(existsSync(out)).toBe(false);
    await remove('.reverify/commit.json');
    await exportS3(out);
    expect(listing(out)).toContain(EXPORT_MARKER);
  });

  it('a CLI process that holds the run in S3 is a writer while it runs', async () => {
    const writer = processWriter('raiden reverify');
    await put(WRITER_LEASE, JSON.stringify(writer.lease));
    const result = await exportS3(join(root, 'exports', 'from-s3-busy')).then(
      () => 'exported',
      (error: unknown) => (error as Error).message,
    );
    expect(result).toMatch(/is being written by raiden reverify \(pid \d+ .*\) since /u);
    await remove(WRITER_LEASE);
  });
});
