/**
 * A disk that fills in the middle of an append: the write that got only part of its line is cut back, the
 * run stops with a message (exit 1), and a rerun continues from whole lines. A file an older raiden tore
 * is repaired on resume, and a reader names a line that is not a record instead of skipping it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import { RunFileError } from '../../orchestrator/src/core/ports/run-store.ts';
import { readJsonLines } from '../../orchestrator/src/store/jsonl.ts';
import { CHARACTEREVAL_PROFILES, CLI, collectOutput, ROOT, runCli } from '../support/run-cli.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const SLOTS = 40;
const generate = (url: string, out: string) => [
  'generate',
  ...['--profiles', CHARACTEREVAL_PROFILES, '--max-profiles', '20', '--endpoint', url, '--out', out, '--concurrency', '4'],
];

/** Every line of a JSONL file, parsed: a torn or glued line fails here. */
function records(path: string): { id: string }[] {
  const text = readFileSync(path, 'utf8');
  if (text.length > 0 && !text.endsWith('\n')) throw new Error(`${path} ends in a line without its newline`);
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as { id: string });
}

describe('a full disk in the middle of samples.jsonl', () => {
  it('cuts the part-written line back, stops with exit 1 and a message, and the rerun finishes from whole lines', async () => {
    server = await startTestServer({ latencyMs: 2 });
    const out = mkdtempSync(join(tmpdir(), 'raiden-full-'));
    // A file size limit is a full disk the test can make: write(2) takes the bytes up to it and returns a short count.
    const limitKiB = 48;
    const child = spawn('bash', ['-c', `ulimit -f ${limitKiB}; exec "$0" "$@"`, process.execPath, CLI, ...generate(server.url, out)], {
      cwd: ROOT,
      env: { ...process.env, RAIDEN_API_KEY: '', RAIDEN_NO_CACHE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const full = await collectOutput(child);
    expect(full.code, full.stderr).toBe(1);
    expect(full.stderr).toMatch(/cannot append to \S+samples\.jsonl \((only \d+ of \d+ bytes written|EFBIG)\): is the disk full\?/u);
    expect(full.stderr).not.toMatch(/\n\s+at /u);
    const kept = records(join(out, 'samples.jsonl'));
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(SLOTS);
    expect(statSync(join(out, 'samples.jsonl')).size).toBeLessThanOrEqual(limitKiB * 1024);

    const rerun = await runCli(generate(server.url, out));
    expect(rerun.code, rerun.stderr).toBe(0);
    const samples = records(join(out, 'samples.jsonl'));
    expect(new Set(samples.map((sample) => sample.id)).size).toBe(SLOTS);
    expect(samples).toHaveLength(SLOTS);
    expect(samples.slice(0, kept.length)).toEqual(kept);
  });
});

describe('a run file an older raiden tore', () => {
  it('is repaired on resume: the glued whole record kept, the damage moved to samples.jsonl.corrupt and reported by line', async () => {
    server = await startTestServer({ latencyMs: 2 });
    const out = mkdtempSync(join(tmpdir(), 'raiden-torn-'));
    expect((await runCli(generate(server.url, out))).code).toBe(0);
    const path = join(out, 'samples.jsonl');
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    const torn = lines[2] ?? '';
    // What a short write followed by the next append made: half a record glued to a whole one.
    const damaged = [...lines.slice(0, 2), `${torn.slice(0, torn.length >> 1)}${lines[3]}`, ...lines.slice(4)];
    writeFileSync(path, `${damaged.join('\n')}\n`);

    await expect(async () => {
      for await (const sample of readJsonLines(path)) expect(sample).toBeDefined();
    }).rejects.toThrow(new RunFileError(`${path} line 3 is not a JSON record`));
    const report = await runCli(['report', '--run', out]);
    expect(report.code).toBe(1);
    expect(report.stderr).toContain(`${path} line 3 is not a JSON record: run the same raiden generate command`);

    const resume = await runCli(generate(server.url, out));
    expect(resume.code, resume.stderr).toBe(0);
    expect(resume.stderr).toContain(
      `${path} line 3 was not a JSON record (a torn write); moved to ${path}.corrupt, and the whole record glued to it kept`,
    );
    expect(readFileSync(`${path}.corrupt`, 'utf8')).toBe(`${damaged[2]}\n`);
    const samples = records(path);
    expect(samples.map((sample) => sample.id).sort()).toEqual(lines.map((line) => (JSON.parse(line) as { id: string }).id).sort());
  });
});
