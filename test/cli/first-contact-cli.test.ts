/**
 * The first minute with raiden generate: a wrong --out, a directory that is not a run, a read-only one,
 * Bedrock that cannot be used, a file full of terminal escapes. Each is refused before any server is
 * called, with exit 2 and one message naming the input, the value and the fix; never a stack.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BedrockRuntimeClient, ConverseCommand, ValidationException } from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { startBedrockTestServer, type BedrockTestServer } from '../../bench/simulated-bedrock/server.ts';
import { startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import { CLI, collectOutput, ROOT, runCli } from '../support/run-cli.ts';

let sglang: TestServer | undefined;
let bedrock: BedrockTestServer | undefined;
afterEach(async () => {
  await sglang?.close();
  await bedrock?.close();
  sglang = bedrock = undefined;
});
const tempDir = () => mkdtempSync(join(tmpdir(), 'raiden-first-contact-'));
const PROFILES = join(ROOT, 'examples/profiles.en.jsonl');

async function serve(): Promise<TestServer> {
  sglang = await startTestServer();
  return sglang;
}

/** Exit 2, the message, and nothing of a crash. */
function expectUsageError(result: { code: number | null; stderr: string }, message: RegExp): void {
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /u);
  expect(result.code).toBe(2);
}

/**
 * Starts the CLI as a user without write access to a 0555 directory. Root writes anywhere, so as root the
 * child keeps its uid (it must still read the checkout and the Node binary, wherever they live: a 0700
 * home, a `.node/` inside the clone) and only loses the capabilities that let root ignore file modes.
 */
function spawnWithoutWriteOverride(args: readonly string[]): ChildProcess {
  const options = { cwd: ROOT, env: { ...process.env, RAIDEN_API_KEY: '', HOME: tmpdir() }, stdio: ['ignore', 'pipe', 'pipe'] as const };
  if (process.getuid?.() !== 0) return spawn(process.execPath, args, { ...options, stdio: [...options.stdio] });
  const dropped = '-dac_override,-dac_read_search,-fowner,-linux_immutable';
  return spawn('setpriv', [`--bounding-set=${dropped}`, `--inh-caps=${dropped}`, '--', process.execPath, ...args], {
    ...options,
    stdio: [...options.stdio],
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('--out', () => {
  it('naming a file: exit 2 before any server is called', async () => {
    const srv = await serve();
    const file = join(tempDir(), 'notes.txt');
    writeFileSync(file, 'mine');
    const result = await runCli(['generate', '--profiles', PROFILES, '--endpoint', srv.url, '--out', file]);
    expectUsageError(result, new RegExp(`--out ${file} is a file, not a directory: give the path of a directory`, 'u'));
    expect(srv.stats.modelsRequests).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('mine');
  });

  it('naming a directory of other files: refused, and none of them is touched', async () => {
    const srv = await serve();
    const out = tempDir();
    writeFileSync(join(out, 'train.json'), '["my own data"]');
    writeFileSync(join(out, 'report.json'), '{"mine": true}');
    writeFileSync(join(out, 'samples.jsonl'), '{"id": "my own line"}\n');
    const result = await runCli(['generate', '--profiles', PROFILES, '--endpoint', srv.url, '--out', out]);
    expectUsageError(
      result,
      /--out .* holds files but no raiden run \(no run\.json; found .*train\.json.*\): give a new or empty directory so none of them is overwritten/u,
    );
    expect(srv.stats.modelsRequests).toBe(0);
    expect(readFileSync(join(out, 'train.json'), 'utf8')).toBe('["my own data"]');
    expect(readFileSync(join(out, 'report.json'), 'utf8')).toBe('{"mine": true}');
    expect(readFileSync(join(out, 'samples.jsonl'), 'utf8')).toBe('{"id": "my own line"}\n');
    expect(readdirSync(out).sort()).toEqual(['report.json', 'samples.jsonl', 'train.json']);
  });

  it('accepts a dry run’s directory and a run’s own directory (a resume)', async () => {
    const srv = await serve();
    const out = tempDir();
    const args = ['generate', '--profiles', PROFILES, '--endpoint', srv.url, '--out', out];
    expect((await runCli([...args, '--dry-run'])).code).toBe(0);
    expect((await runCli(args)).code).toBe(0);
    expect((await runCli(args)).code).toBe(0);
    expect(existsSync(join(out, 'run.lock'))).toBe(false);
  });

  it('not writable: exit 2 naming it, before any server is called', async () => {
    const srv = await serve();
    const out = join(tempDir(), 'read-only');
    mkdirSync(out);
    chmodSync(out, 0o555);
    const child = spawnWithoutWriteOverride([CLI, 'generate', '--profiles', PROFILES, '--endpoint', srv.url, '--out', out]);
    const result = await collectOutput(child);
    expectUsageError(result, new RegExp(`cannot write to --out ${out} \\((EACCES|EPERM|EROFS)\\): give a directory you can write to`, 'u'));
    expect(srv.stats.modelsRequests).toBe(0);
  });
});

describe("the demo's next steps", () => {
  it('name profile files that exist, and the dry run among them runs as written', async () => {
    const steps = readFileSync(join(ROOT, 'scripts/demo.ts'), 'utf8')
      .split('\n')
      .filter((line) => line.trimStart().startsWith('npx raiden generate'))
      .map((line) => line.trim().split(/\s{3,}/u)[0] ?? '');
    expect(steps.length).toBeGreaterThan(0);
    for (const step of steps) expect(existsSync(join(ROOT, /--profiles (\S+)/u.exec(step)?.[1] ?? 'no --profiles'))).toBe(true);
    const dryRun = steps.find((step) => step.includes('--dry-run'));
    if (dryRun === undefined) throw new Error('no dry run among the next steps');
    const result = await runCli([...dryRun.split(' ').slice(2), '--out', join(tempDir(), 'dry')]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

describe('profiles that hold terminal control sequences', () => {
  it('are reported with the sequences escaped, never sent to the terminal', async () => {
    const dir = tempDir();
    const file = join(dir, 'roles.jsonl');
    writeFileSync(
      file,
      '{"name": "Ann", "bio": "a baker in Tallinn who sells rye bread"}\n\u001b]0;pwned\u0007\u001b[2J{"name": "Bob"}\nnot json \u001b[31m at all\r\n',
    );
    const result = await runCli(['generate', '--profiles', file, '--dry-run', '--out', join(dir, 'out')]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/roles\.jsonl:2: malformed JSON line .*\\u001b\]0;pwned\\u0007/u);
    // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
    expect(result.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/u);
  });
});

describe('Bedrock that cannot be used is found out before planning', () => {
  it('unreachable: exit 2 with the endpoint and what to check; no run directory left behind', async () => {
    const parent = tempDir();
    const out = join(parent, 'runs', 'first');
    const port = await closedPort();
    const result = await runCli(
      ['generate', '--profiles', PROFILES, '--strategy', 'bedrock', '--bedrock-endpoint', `http://127.0.0.1:${port}`, '--out', out],
      ROOT,
      { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_REGION: 'us-east-1' },
    );
    expectUsageError(
      result,
      new RegExp(
        `cannot reach the Bedrock endpoint http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*: check --bedrock-region \\(and --bedrock-endpoint`,
        'u',
      ),
    );
    expect(readdirSync(parent)).toEqual([]);
  });

  it('no credentials: exit 2 saying how to provide them; an --out that existed is kept, empty', async () => {
    bedrock = await startBedrockTestServer();
    const out = tempDir();
    const missing = join(tempDir(), 'none');
    const result = await runCli(
      ['generate', '--profiles', PROFILES, '--strategy', 'bedrock', '--bedrock-endpoint', bedrock.url, '--out', out],
      ROOT,
      {
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_SESSION_TOKEN: '',
        AWS_PROFILE: 'raiden-no-such-profile',
        AWS_CONFIG_FILE: missing,
        AWS_SHARED_CREDENTIALS_FILE: missing,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_REGION: 'us-east-1',
      },
    );
    expectUsageError(
      result,
      /no AWS credentials found to call Bedrock model .*: set AWS credentials that allow bedrock:InvokeModel: aws configure/u,
    );
    expect(bedrock.stats.requests).toBe(0);
    expect(readdirSync(out)).toEqual([]);
  });

  it('a gate model that is not a model: exit 2 naming the flag, before any sample is generated', async () => {
    const srv = await serve();
    const converse = mockClient(BedrockRuntimeClient);
    try {
      converse
        .on(ConverseCommand, { modelId: 'garbage' })
        .rejects(new ValidationException({ message: 'The provided model identifier is invalid.', $metadata: { httpStatusCode: 400 } }));
      const result = await runCli(
        ['generate', '--profiles', PROFILES, '--endpoint', srv.url, '--keyword-agreement-models', 'garbage', '--out', tempDir()],
        ROOT,
        { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_REGION: 'us-east-1' },
      );
      expectUsageError(
        result,
        /Bedrock model garbage in us-east-1 cannot be called \(ValidationException: The provided model identifier is invalid\.\): check --keyword-agreement-models/u,
      );
      expect(srv.stats.chatRequests).toBe(0);
    } finally {
      converse.restore();
    }
  });
});
