import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../orchestrator/src/cli/main.ts';
import { stageWeights, type StagedMarker } from '../../orchestrator/src/cli/weights-command.ts';
import { startLocalS3, type LocalS3 } from '../support/local-s3.ts';

const BUCKET = 'raiden-weights-123456789012-us-east-1';
const MODEL = 'Org/Tiny-1B';
const TOKEN = 'hf_test_token';

/** A Hugging Face stand-in: the revision API and /resolve/, behind a token, with one CDN-style redirect. */
interface FakeHub {
  readonly url: string;
  files: Record<string, string>;
  sha: string;
  downloads: string[];
  close(): Promise<void>;
}

async function startFakeHub(): Promise<FakeHub> {
  const hub = { files: {} as Record<string, string>, sha: 'a'.repeat(40), downloads: [] as string[] };
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://hub');
    if (url.pathname.startsWith('/cdn/')) {
      response.end(hub.files[decodeURIComponent(url.pathname.slice('/cdn/'.length))]);
      return;
    }
    if (request.headers.authorization !== `Bearer ${TOKEN}`) {
      response.writeHead(401).end('{"error":"gated"}');
      return;
    }
    if (url.pathname === `/api/models/${MODEL}/revision/main` && url.searchParams.get('blobs') === 'true') {
      const siblings = Object.entries(hub.files).map(([rfilename, text]) => ({ rfilename, size: Buffer.byteLength(text) }));
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ id: MODEL, sha: hub.sha, siblings }));
      return;
    }
    const prefix = `/${MODEL}/resolve/${hub.sha}/`;
    if (url.pathname.startsWith(prefix)) {
      const path = decodeURIComponent(url.pathname.slice(prefix.length));
      hub.downloads.push(path);
      response.writeHead(302, { location: `/cdn/${encodeURIComponent(path)}` }).end();
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(hub, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

function io() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    streams: {
      stdout: { write: (text: string) => (out.stdout += text) },
      stderr: { isTTY: false, write: (text: string) => (out.stderr += text) },
    },
  };
}

describe('raiden weights stage (Hugging Face to the weights bucket)', () => {
  let s3: LocalS3;
  let hub: FakeHub;
  beforeAll(async () => {
    s3 = await startLocalS3([BUCKET]);
    hub = await startFakeHub();
  });
  afterAll(async () => {
    await hub?.close();
    await s3?.close();
  });
  beforeEach(() => {
    hub.downloads = [];
  });

  const target = () => ({ s3: s3.client, bucket: BUCKET, hfEndpoint: hub.url, hfToken: TOKEN });
  const keys = async () =>
    ((await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'huggingface/' }))).Contents ?? []).map((o) => o.Key).sort();
  const read = async (key: string) => (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString();

  it('copies every file of the revision under huggingface/<id>/ and writes the marker the boot looks for last', async () => {
    hub.files = { 'config.json': '{"a":1}', 'model-00001-of-00002.safetensors': 'x'.repeat(1000), 'sub/tokenizer.json': '{}' };
    const { out, streams } = io();
    expect(await stageWeights(MODEL, 'main', target(), streams)).toBe(0);
    expect(await keys()).toEqual([
      `huggingface/${MODEL}/.raiden-staged.json`,
      `huggingface/${MODEL}/config.json`,
      `huggingface/${MODEL}/model-00001-of-00002.safetensors`,
      `huggingface/${MODEL}/sub/tokenizer.json`,
    ]);
    expect(await read(`huggingface/${MODEL}/model-00001-of-00002.safetensors`)).toBe('x'.repeat(1000));
    const marker = JSON.parse((await read(`huggingface/${MODEL}/.raiden-staged.json`)) ?? '{}') as StagedMarker;
    expect(marker).toMatchObject({
      model: MODEL,
      revision: hub.sha,
      files: expect.arrayContaining([{ path: 'sub/tokenizer.json', size: 2 }]),
    });
    expect(out.stdout).toContain(`Staged ${MODEL}`);
    expect(out.stdout).toContain('through the S3 gateway endpoint');
  });

  it('a second run of the same revision does nothing', async () => {
    const { out, streams } = io();
    expect(await stageWeights(MODEL, 'main', target(), streams)).toBe(0);
    expect(out.stdout).toContain(`is already staged in s3://${BUCKET}/huggingface/${MODEL}/; nothing to do`);
    expect(hub.downloads).toEqual([]);
  });

  it('a new revision resumes what is there, removes files it no longer has and replaces the marker', async () => {
    hub.sha = 'b'.repeat(40);
    hub.files = { 'config.json': '{"a":2}', 'model-00001-of-00002.safetensors': 'x'.repeat(1000) };
    const { out, streams } = io();
    expect(await stageWeights(MODEL, 'main', target(), streams)).toBe(0);
    // Same size: taken as already copied (a rerun after an interruption); changed size: copied again.
    expect(hub.downloads).toEqual([]);
    expect(out.stdout).toMatch(/model-00001-of-00002\.safetensors \(0\.0 GB\), already there/u);
    expect(await keys()).toEqual([
      `huggingface/${MODEL}/.raiden-staged.json`,
      `huggingface/${MODEL}/config.json`,
      `huggingface/${MODEL}/model-00001-of-00002.safetensors`,
    ]);
    expect(JSON.parse((await read(`huggingface/${MODEL}/.raiden-staged.json`)) ?? '{}')).toMatchObject({ revision: 'b'.repeat(40) });
  });

  it('a changed file is copied again', async () => {
    hub.sha = 'c'.repeat(40);
    hub.files = { 'config.json': '{"a":22}', 'model-00001-of-00002.safetensors': 'x'.repeat(1000) };
    const { streams } = io();
    expect(await stageWeights(MODEL, 'main', target(), streams)).toBe(0);
    expect(hub.downloads).toEqual(['config.json']);
    expect(await read(`huggingface/${MODEL}/config.json`)).toBe('{"a":22}');
  });

  it('a gated model without HF_TOKEN says how to get access, and stages nothing', async () => {
    const { streams } = io();
    await expect(stageWeights(MODEL, 'main', { ...target(), hfToken: undefined }, streams)).rejects.toThrow(
      /Hugging Face refused Org\/Tiny-1B \(HTTP 401\): it is gated or private; set HF_TOKEN/u,
    );
  });
});

describe('raiden weights stage from the command line', () => {
  // Mocked here only: the describe above talks to a real S3 endpoint through the same client class.
  let sts: AwsClientStub<STSClient>;
  let s3: AwsClientStub<S3Client>;
  beforeAll(() => {
    sts = mockClient(STSClient);
    s3 = mockClient(S3Client);
  });
  afterAll(() => {
    sts.restore();
    s3.restore();
  });

  it("finds the deployment's weights bucket from the account and region, and says to deploy when it is missing", async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: '123456789012' });
    s3.on(HeadBucketCommand).rejects(Object.assign(new Error('Not Found'), { name: 'NotFound' }));
    const { out, streams } = io();
    const code = await main(['weights', 'stage', '--region', 'us-east-1', '--model', MODEL], streams);
    expect(code).toBe(2);
    expect(out.stderr).toContain(`weights bucket ${BUCKET} is not reachable (NotFound): deploy the stacks first (npx raiden deploy)`);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('without credentials says so in one line, with or without --bucket, instead of a stack trace or "deploy the stacks"', async () => {
    const noCredentials = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    sts.on(GetCallerIdentityCommand).rejects(noCredentials);
    s3.on(HeadBucketCommand).rejects(noCredentials);
    for (const bucketFlag of [[], ['--bucket', BUCKET]]) {
      const { out, streams } = io();
      const code = await main(['weights', 'stage', '--region', 'us-east-1', '--model', MODEL, ...bucketFlag], streams);
      expect(code).toBe(2);
      expect(out.stderr).toContain('no usable AWS credentials (CredentialsProviderError): run aws configure or aws sso login');
      expect(out.stderr).not.toContain('deploy the stacks');
      expect(out.stderr).not.toMatch(/\n\s+at /u);
    }
  });

  it('rejects a model that is not a Hugging Face id', async () => {
    const { out, streams } = io();
    expect(await main(['weights', 'stage', '--region', 'us-east-1', '--model', 'weights:models/x'], streams)).toBe(2);
    expect(out.stderr).toContain('--model "weights:models/x" is not a Hugging Face model id: write it as org/name');
  });
});
