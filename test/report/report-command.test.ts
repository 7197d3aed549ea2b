/** `raiden report --run DIR|s3://...`: rebuilds report.html from a local run directory or a run's S3 prefix. */
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import { addReportCommand, runReport } from '../../orchestrator/src/cli/report-command.ts';
import type { CliIo } from '../../orchestrator/src/cli/cli-io.ts';
import { UsageError } from '../../orchestrator/src/cli/usage-error.ts';
import { readRunEvents } from '../../orchestrator/src/core/report/run-events.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { S3RunStore } from '../../orchestrator/src/store/s3-run-store.ts';
import { steppingClock } from '../pipeline/run-in-process.ts';
import { startLocalS3, type LocalS3 } from '../support/local-s3.ts';
import { reportDataOf } from './report-data.ts';
import { smallRun } from './small-run.ts';

const BUCKET = 'raiden-report-test';

function capture(): { io: CliIo; stdout: () => string } {
  let out = '';
  return { io: { stdout: { write: (text: string) => (out += text) }, stderr: { write: () => true } }, stdout: () => out };
}

const temporary: string[] = [];
let run: string;
let s3: LocalS3;
beforeAll(async () => {
  run = mkdtempSync(join(tmpdir(), 'raiden-report-cmd-'));
  temporary.push(run);
  await smallRun({ directory: run, clock: steppingClock(), writer: 'local' });
  s3 = await startLocalS3([BUCKET]);
});
afterAll(async () => {
  await s3.close();
  for (const directory of temporary) rmSync(directory, { recursive: true, force: true });
});

/** Copies the local run to S3 the way the workflow leaves it: parts from one batch, then (finished) Finalize's files. */
async function uploadRun(prefix: string, finished: boolean): Promise<void> {
  const local = await LocalRunStore.open(run);
  const batch = new S3RunStore({ client: s3.client, bucket: BUCKET, prefix, partition: 'b00000' });
  for await (const sample of local.readSamples()) await batch.appendSample(sample);
  for await (const reject of local.readRejects()) await batch.appendReject(reject);
  for (const event of await readRunEvents(local)) await batch.appendEvent(event);
  await batch.flushEvents();
  const whole = new S3RunStore({ client: s3.client, bucket: BUCKET, prefix });
  await whole.writeJson(RUN_FILES.plan, { instances: 2 });
  if (finished) {
    await whole.consolidate();
    await whole.writeJson(RUN_FILES.report, await local.readJson(RUN_FILES.report));
  }
}

const getObject = (key: string) => s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));

describe('raiden report', () => {
  it('rebuilds report.html in a run directory', async () => {
    unlinkSync(join(run, RUN_FILES.reportHtml));
    const { io, stdout } = capture();
    expect(await runReport({ run }, io)).toBe(0);
    expect(stdout()).toMatch(new RegExp(`^report\\.html written to ${join(run, RUN_FILES.reportHtml)} \\(\\d+ KiB\\)\\n$`, 'u'));
    expect(existsSync(join(run, RUN_FILES.reportHtml))).toBe(true);
  });

  it('--price-file reprices the summary, the cost table and the cost chart alike', async () => {
    const prices = join(run, 'prices.json');
    writeFileSync(prices, JSON.stringify({ as_of: '2026-02-01', gpu_usd_per_hour: 98 }));
    const before = reportDataOf(readFileSync(join(run, RUN_FILES.reportHtml), 'utf8'));
    expect(await runReport({ run, priceFile: prices }, capture().io)).toBe(0);
    const after = reportDataOf(readFileSync(join(run, RUN_FILES.reportHtml), 'utf8'));
    const cost = (data: typeof after) => data.summary.find(([label]) => label === 'cost')?.[1] ?? '';
    expect(cost(before)).toMatch(/prices as of 2025-11-25\)$/u);
    expect(cost(after)).toMatch(/prices as of 2026-02-01\)$/u);
    const gpuRow = (data: typeof after) => data.costTable.find((row) => row[1] === 'GPU time') ?? [];
    expect(gpuRow(before).at(-1)).toMatch(/at \$63\/h$/u);
    expect(gpuRow(after).at(-1)).toMatch(/at \$98\/h$/u);
    // The same GPU time at 98/63 of the price, to the table's four places.
    expect(Number(gpuRow(after)[7])).toBeCloseTo((Number(gpuRow(before)[7]) * 98) / 63, 3);
    expect(after.timeline?.cost.some((series) => series.label === 'sglang GPU time ($98/h)')).toBe(true);
    unlinkSync(prices);
    expect(await runReport({ run }, capture().io)).toBe(0);
  });

  it('is registered as a command with --run', async () => {
    unlinkSync(join(run, RUN_FILES.reportHtml));
    let exit = -1;
    const program = new Command().exitOverride();
    addReportCommand(program, capture().io, (code) => (exit = code));
    await program.parseAsync(['report', '--run', run], { from: 'user' });
    expect(exit).toBe(0);
    expect(existsSync(join(run, RUN_FILES.reportHtml))).toBe(true);
  });

  it('refuses what is not a run directory, creating nothing', async () => {
    const missing = join(run, 'no-such-run');
    await expect(runReport({ run: missing }, capture().io)).rejects.toThrow(
      new UsageError(`--run ${missing} is not a directory: pass the run directory of raiden generate`),
    );
    expect(existsSync(missing)).toBe(false);
    const empty = mkdtempSync(join(tmpdir(), 'raiden-report-empty-'));
    temporary.push(empty);
    await expect(runReport({ run: empty }, capture().io)).rejects.toThrow(
      /holds no samples\.jsonl, rejects\.jsonl, report\.json or events\.jsonl/u,
    );
    await expect(runReport({ run: 's3://' }, capture().io)).rejects.toThrow(/is not a run's S3 prefix/u);
  });

  it('rebuilds a finished run in S3 as text/html, from the consolidated files and the batch writers’ events', async () => {
    await uploadRun('runs/done/', true);
    const { io, stdout } = capture();
    expect(await runReport({ run: `s3://${BUCKET}/runs/done` }, io, { s3: s3.client })).toBe(0);
    expect(stdout()).toMatch(/^report\.html written to s3:\/\/raiden-report-test\/runs\/done\/report\.html \(\d+ KiB\)\n$/u);
    const object = await getObject('runs/done/report.html');
    expect(object.ContentType).toBe('text/html; charset=utf-8');
    const data = reportDataOf((await object.Body?.transformToString()) ?? '');
    expect(data.title).toMatch(/^raiden run charactereval_profiles-/u);
    expect(data.timeline?.invocations).toHaveLength(1);
    expect(data.profiles).toHaveLength(6);
    // plan.json's two GPU instances bill twice as fast as one.
    const local = reportDataOf(readFileSync(join(run, RUN_FILES.reportHtml), 'utf8'));
    const gpu = (d: typeof data) => d.timeline?.cost.find((series) => series.label.startsWith('sglang GPU time'))?.values.at(-1) ?? 0;
    expect(gpu(data)).toBeCloseTo(2 * gpu(local), 3);
  });

  it('reports on a run still going in S3 from its parts, saying report.json is missing', async () => {
    await uploadRun('runs/going/', false);
    expect(await runReport({ run: `s3://${BUCKET}/runs/going/` }, capture().io, { s3: s3.client })).toBe(0);
    const data = reportDataOf((await (await getObject('runs/going/report.html')).Body?.transformToString()) ?? '');
    expect(data.notes.join('\n')).toContain('report.json is missing');
    expect(data.browser.slots.filter((slot) => slot.sample !== undefined).length).toBeGreaterThan(0);
    await expect(runReport({ run: `s3://${BUCKET}/runs/nothing-here` }, capture().io, { s3: s3.client })).rejects.toThrow(
      /holds no report\.json or plan\.json/u,
    );
  });
});
