import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { eachSyntheticProfile } from '../../bench/support/synthetic-profiles.ts';
import { TEMP_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import type { ManifestItem } from '../../orchestrator/src/contract/workflow-payloads.ts';
import { resetAwsClients } from '../../orchestrator/src/handlers/handler-env.ts';
import { handler as plan } from '../../orchestrator/src/handlers/plan.ts';
import type { BatchFile } from '../../orchestrator/src/handlers/run-files.ts';
import { S3RunStore } from '../../orchestrator/src/store/s3-run-store.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../support/local-s3.ts';

const PROFILES = 40;
let s3: LocalS3;
let saved: NodeJS.ProcessEnv;

beforeAll(async () => {
  saved = { ...process.env };
  s3 = await startLocalS3(['raiden-in-plan', 'raiden-out-plan']);
  const lines = [...eachSyntheticProfile(PROFILES)].map((profile) => JSON.stringify(profile)).join('\n');
  await s3.client.send(new PutObjectCommand({ Bucket: 'raiden-in-plan', Key: 'roles.jsonl', Body: lines }));
  Object.assign(process.env, {
    RAIDEN_OUTPUTS_BUCKET: 'raiden-out-plan',
    RAIDEN_S3_ENDPOINT: s3.endpoint,
    RAIDEN_SERVERS: JSON.stringify([{ name: 'main', port: 30000, model: 'test-model', dp: 1 }]),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
  });
  resetAwsClients();
});
afterAll(async () => {
  process.env = saved;
  resetAwsClients();
  await s3.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function readText(key: string): Promise<string> {
  const object = await s3.client.send(new GetObjectCommand({ Bucket: 'raiden-out-plan', Key: key }));
  return (await object.Body?.transformToString('utf8')) ?? '';
}

describe('Plan', () => {
  it('streams the manifest: each line is sent as its batch is cut, never after the whole plan is held', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    // Every batch file write and every manifest line pulled by the upload, in the order they happen.
    const batchFiles: string[] = [];
    const batchFilesAtLine: Record<string, number[]> = {};
    const writeJson = S3RunStore.prototype.writeJson;
    vi.spyOn(S3RunStore.prototype, 'writeJson').mockImplementation(function (this: S3RunStore, name, value, condition) {
      if (name.startsWith('batches/')) batchFiles.push(name);
      return writeJson.call(this, name, value, condition);
    });
    const writeLines = S3RunStore.prototype.writeLines;
    vi.spyOn(S3RunStore.prototype, 'writeLines').mockImplementation(function (this: S3RunStore, name, lines) {
      const seen: number[] = (batchFilesAtLine[name] = []);
      const observed = async function* () {
        for await (const line of lines) {
          seen.push(batchFiles.length);
          yield line;
        }
      };
      return writeLines.call(this, name, observed());
    });

    const planned = await plan({
      input: { profiles: 's3://raiden-in-plan/roles.jsonl', samplesPerProfile: 2, includeCm: true, batchSlots: 6 },
      execution: { id: 'arn:exec:stream', name: 'stream', startTime: new Date().toISOString() },
    });

    // 40 profiles of 3 slots, two profiles a batch.
    expect(planned).toMatchObject({ batches: 20, seedBatches: 0, slots: 120 });
    expect(batchFiles).toHaveLength(20);
    // Line i goes out right after the (i+1)-th batch file is started: the plan runs one batch ahead of
    // the upload, where holding every batch first would show 20 files before the first line.
    expect(batchFilesAtLine[TEMP_FILES.manifest]).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(batchFilesAtLine[TEMP_FILES.seedManifest] ?? []).toEqual([]);

    // The same manifest the Distributed Map reads: one JSON item a line, each naming its batch file.
    const items = (await readText(planned.manifestKey))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as ManifestItem);
    expect(items.map((item) => item.batchId)).toEqual(Array.from({ length: 20 }, (_, i) => `b${String(i).padStart(5, '0')}`));
    expect(items.reduce((sum, item) => sum + item.slots, 0)).toBe(120);
    expect(await readText(planned.seedManifestKey)).toBe('');
    const last = items[items.length - 1] as ManifestItem;
    const file = JSON.parse(await readText(last.key)) as BatchFile;
    expect(file).toMatchObject({ batchId: last.batchId, backend: 'sglang', phase: 'main', seedBatchIds: [] });
    expect(file.profiles.map((profile) => profile.id)).toEqual([...new Set(file.slots.map((slot) => slot.profileId))]);
    expect(file.slots).toHaveLength(last.slots);
  });

  it('a batch file that cannot be written fails Plan with that error, after the writes in flight end', async () => {
    const writeJson = S3RunStore.prototype.writeJson;
    vi.spyOn(S3RunStore.prototype, 'writeJson').mockImplementation(function (this: S3RunStore, name, value, condition) {
      if (name === 'batches/b00003.json') return Promise.reject(new Error('SlowDown: reduce your request rate'));
      return writeJson.call(this, name, value, condition);
    });
    await expect(
      plan({
        input: { profiles: 's3://raiden-in-plan/roles.jsonl', samplesPerProfile: 2, includeCm: true, batchSlots: 6 },
        execution: { id: 'arn:exec:failing', name: 'failing', startTime: new Date().toISOString() },
      }),
    ).rejects.toThrow('SlowDown');
  });
});
