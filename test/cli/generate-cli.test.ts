import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DatasetStatsResult } from '../../orchestrator/src/core/report/dataset-stats.ts';
import type { RunReport } from '../../orchestrator/src/core/report/run-report.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { startTestServer, type TestServer, type TestServerOptions } from '../../bench/simulated-sglang/server.ts';
import { ROOT, CHARACTEREVAL_PROFILES, readJson, readJsonl, runCli, startCli } from '../support/run-cli.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});
const tempDir = () => mkdtempSync(join(tmpdir(), 'raiden-cli-'));
async function serve(options: TestServerOptions = {}) {
  server = await startTestServer(options);
  return server;
}
const SAMPLE_FIELDS = [
  'id',
  'character_name',
  'character_profile',
  'conversation_history',
  'question',
  'reasoning',
  'answer',
  'keywords',
  'keyword_alternatives',
  'question_type',
  'validation_method',
  'difficulty',
  'metadata',
];
const profileOf = (sample: Sample) => sample.id.split('/')[0];

describe('raiden generate end to end', () => {
  it('turns the 78 CharacterEval profiles into a verified dataset with every output of the contract', async () => {
    const srv = await serve({ latencyMs: 5 });
    const out = tempDir();
    const result = await runCli([
      'generate',
      '--profiles',
      CHARACTEREVAL_PROFILES,
      '--endpoint',
      srv.url,
      '--include-cm',
      '--out',
      out,
      '--concurrency',
      '16',
    ]);
    // The ceiling holds; how close a loaded machine gets to it is not this test's business.
    expect(srv.stats.maxConcurrent).toBeLessThanOrEqual(16);
    expect(srv.stats.maxConcurrent).toBeGreaterThan(1);
    expect(result.stderr).not.toMatch(/unexpected/);
    expect(result.code).toBe(0);

    const samples = readJsonl<Sample>(join(out, 'samples.jsonl'));
    expect(samples).toHaveLength(78 * 3);
    expect(new Set(samples.map((s) => s.id)).size).toBe(samples.length);
    for (const sample of samples) {
      expect(Object.keys(sample).sort()).toEqual([...SAMPLE_FIELDS].sort());
      expect(sample.keywords.every((k) => sample.answer.includes(k))).toBe(true);
      if (sample.metadata.kind === 'SBK')
        expect(sample.keywords.every((k) => Object.values(sample.character_profile).join('\n').includes(k))).toBe(true);
      expect(sample.validation_method).toBe(sample.keywords.length === 1 ? 'single_term_validation' : 'multi_term_parsing');
    }

    const train = readJson<Sample[]>(join(out, 'train.json'));
    const validation = readJson<Sample[]>(join(out, 'validation.json'));
    expect(train.length + validation.length).toBe(samples.length);
    const validationProfiles = new Set(validation.map(profileOf));
    expect(validationProfiles.size).toBe(8);
    expect(train.filter((s) => validationProfiles.has(profileOf(s)))).toEqual([]);

    const report = readJson<RunReport>(join(out, 'report.json'));
    expect(report.status).toBe('complete');
    expect(report.samples).toMatchObject({ accepted: 234, empty_slots: 0, train: train.length, validation: validation.length });
    expect(report.requests.this_invocation).toBe(234);
    expect(report.tokens.this_invocation.input).toBeGreaterThan(0);
    expect(report.tokens.by_model['sglang:test-model']?.samples).toBe(234);
    expect(report.throughput.samples_per_s).toBeGreaterThan(0);
    const stats = readJson<DatasetStatsResult>(join(out, 'dataset_stats.json'));
    expect(stats.by_kind).toEqual({ CM: 78, SBK: 156 });
    expect(stats.splits.validation.profiles).toBe(8);
    expect(readFileSync(join(out, 'rejects.jsonl'), 'utf8')).toBe('');
    expect(result.stdout).toMatch(/samples accepted \(total\)\s+234/);
    expect(result.stderr).toMatch(/\[raiden\] .*234\/234 slots/);
  });

  it.each(['profiles.en.jsonl', 'profiles.zh.json', 'raiden-r1.jsonl', 'npc.json'])('generates from examples/%s', async (file) => {
    const { url } = await serve();
    const out = tempDir();
    const result = await runCli([
      'generate',
      '--profiles',
      join('examples', file),
      '--endpoint',
      url,
      '--cm-per-profile',
      '1',
      '--out',
      out,
    ]);
    expect(result.code).toBe(0);
    const samples = readJsonl<Sample>(join(out, 'samples.jsonl'));
    const profiles = new Set(samples.map(profileOf));
    expect(samples).toHaveLength(profiles.size * 3);
  });

  it('resumes after kill -9: keeps every accepted sample, drops a torn line, requests only the missing slots', async () => {
    const srv = await serve({ latencyMs: 40 });
    const out = tempDir();
    const args = ['generate', '--profiles', CHARACTEREVAL_PROFILES, '--endpoint', srv.url, '--out', out, '--concurrency', '4'];
    const child = startCli(args);
    const samplesFile = join(out, 'samples.jsonl');
    let exited = false;
    child.on('exit', () => (exited = true));
    while (!existsSync(samplesFile) || readFileSync(samplesFile, 'utf8').split('\n').length < 30) {
      if (exited) throw new Error('the CLI exited before it could be killed');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('close', resolve));
    // Lines the kill left whole; then tear the tail the way a kill in the middle of write(2) would.
    const written = readFileSync(samplesFile, 'utf8');
    const kept = written
      .slice(0, written.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean).length;
    appendFileSync(samplesFile, '{"id": "老默/SBK/9", "question": "torn wri');
    expect(kept).toBeGreaterThanOrEqual(29);
    const before = srv.stats.chatRequests;

    const rerun = await runCli(args);
    expect(rerun.code).toBe(0);
    const samples = readJsonl<Sample>(samplesFile);
    expect(samples).toHaveLength(156);
    expect(new Set(samples.map((s) => s.id)).size).toBe(156);
    expect(srv.stats.chatRequests - before).toBe(156 - kept);
    expect(rerun.stderr).toMatch(new RegExp(`156 slots \\(${kept} already done\\)`));
  }, 120_000);

  it('resumes into the same default run directory when the same command runs again', async () => {
    const srv = await serve();
    const cwd = tempDir();
    const args = ['generate', '--profiles', join(ROOT, 'examples/profiles.zh.json'), '--endpoint', srv.url];
    expect((await runCli(args, cwd)).code).toBe(0);
    const first = srv.stats.chatRequests;
    const again = await runCli(args, cwd);
    expect(again.code).toBe(0);
    expect(srv.stats.chatRequests).toBe(first);
    expect(again.stderr).toMatch(/runs\/profiles-zh-[0-9a-f]{10}: 3 profiles, 6 slots \(6 already done\)/);
  });

  it('refuses to resume a run directory with different plan settings', async () => {
    const srv = await serve();
    const out = tempDir();
    expect((await runCli(['generate', '--profiles', 'examples/npc.json', '--endpoint', srv.url, '--out', out])).code).toBe(0);
    const result = await runCli([
      'generate',
      '--profiles',
      'examples/npc.json',
      '--endpoint',
      srv.url,
      '--out',
      out,
      '--samples-per-profile',
      '5',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--samples-per-profile: the run used 2, this run asks for 5/);
  });

  it('exits 3 and lists the slots that stayed empty after --max-attempts', async () => {
    const { url } = await serve({ fault: (_n, body) => (JSON.stringify(body).includes('CM sample') ? 'ungrounded' : undefined) });
    const out = tempDir();
    const result = await runCli([
      'generate',
      '--profiles',
      'examples/profiles.en.jsonl',
      '--endpoint',
      url,
      '--include-cm',
      '--max-attempts',
      '2',
      '--out',
      out,
    ]);
    expect(result.code).toBe(3);
    const report = readJson<RunReport>(join(out, 'report.json'));
    expect(report.status).toBe('incomplete');
    expect(report.empty_slots.map((e) => e.slot_id).sort()).toEqual(['Dr._Felix_Okafor/CM/0', 'Juniper_Vale/CM/0', 'Mara_Quill/CM/0']);
    expect(report.rejects.total_by_reason).toEqual({ keyword_not_in_conversation: 6 });
    expect(readJsonl(join(out, 'rejects.jsonl'))).toHaveLength(6);
    expect(result.stderr).toMatch(/3 slots stayed empty after 2 attempts/);
  });

  it('reports every bad record with location and reason, and processes the rest', async () => {
    const { url } = await serve();
    const dir = tempDir();
    const file = join(dir, 'mixed.jsonl');
    writeFileSync(
      file,
      [
        '{"name": "Ann Lee", "bio": "a baker in Tallinn who wins every pie contest"}',
        '{"name": "Broken", "bio": ',
        '{"bio": "no name here"}',
        '{"name": "Ann Lee", "bio": "the same name again"}',
        JSON.stringify({ name: 'Huge', bio: 'y'.repeat(5 * 1024 * 1024) }),
        '{"name": "Cy Park", "bio": "a blacksmith who forges bells for the harbour chapel"}',
      ].join('\n'),
    );
    const out = join(dir, 'run');
    const result = await runCli(['generate', '--profiles', file, '--endpoint', url, '--out', out, '--samples-per-profile', '1']);
    expect(result.code).toBe(0);
    for (const line of [2, 3, 4, 5]) expect(result.stderr).toContain(`skipped profile at ${file}:${line}:`);
    const report = readJson<RunReport>(join(out, 'report.json'));
    expect(report.input.profiles_usable).toBe(2);
    expect(report.input.rejected_profiles.map((r) => r.location)).toEqual([2, 3, 4, 5].map((n) => `${file}:${n}`));
    expect(readJsonl(join(out, 'samples.jsonl'))).toHaveLength(2);
  });

  it('writes every prompt and prints an estimate in a dry run, without any network', async () => {
    const out = tempDir();
    const result = await runCli([
      'generate',
      '--profiles',
      CHARACTEREVAL_PROFILES,
      '--include-cm',
      '--dry-run',
      '--out',
      out,
      '--endpoint',
      'http://127.0.0.1:9',
    ]);
    expect(result.code).toBe(0);
    const prompts = readJsonl<{ slot_id: string; messages: unknown[] }>(join(out, 'prompts.jsonl'));
    expect(prompts).toHaveLength(234);
    expect(prompts[0]).toMatchObject({ slot_id: '老默/SBK/0', response_schema: 'raiden_sbk_sample' });
    expect(result.stdout).toMatch(/Profiles: 78 usable, 0 rejected/);
    expect(result.stdout).toMatch(/Slots: 234 \(156 SBK, 78 CM\)/);
    expect(result.stdout).toMatch(/SGLang on 1 p5en\.48xlarge\s+234 slots\s+234\s+\d+\s+\d+\s+\S+\s+\$\d+\.\d\d/);
    expect(result.stdout).toMatch(/all on Bedrock/);
    expect(existsSync(join(out, 'samples.jsonl'))).toBe(false);
  });

  it.each([
    [['generate'], /required option '--profiles <path>'/],
    [['generate', '--profiles', 'examples/npc.json', '--concurrency', '0'], /expected a whole number >= 1/],
    [['generate', '--profiles', 'examples/npc.json', '--language', 'fr'], /expected one of zh, en, auto/],
    [['generate', '--profiles', 'nope.json'], /cannot read --profiles nope.json: no such file/],
    [['generate', '--profiles', 'tsconfig.json'], /cannot tell the profile format.*--format/],
    [['generate', '--profiles', '.gitignore'], /unknown profile format.*--format/],
    [
      ['generate', '--profiles', 'examples/npc.json', '--endpoint', 'http://127.0.0.1:9'],
      /cannot reach http:\/\/127\.0\.0\.1:9 .*sglang\.launch_server/,
    ],
  ])('exits 2 with a message that says what to fix: %j', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 2 when no profile is usable', async () => {
    const file = join(tempDir(), 'bad.jsonl');
    writeFileSync(file, '{"bio": "x"}\n{"name": "A"}\n');
    const result = await runCli(['generate', '--profiles', file, '--dry-run']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /no usable profiles in .*bad\.jsonl; 2 rejected: \S*bad\.jsonl:1: no character name.*; \S*bad\.jsonl:2: profile of "A" has no usable text/,
    );
  });
});
