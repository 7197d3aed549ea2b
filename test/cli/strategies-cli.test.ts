import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { difficultyOfPassRate } from '../../orchestrator/src/core/review/quality-gates.ts';
import type { EvaluationRecord } from '../../orchestrator/src/core/review/sample-evaluation.ts';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/verify/sample.ts';
import type { ComposedReport } from '../../orchestrator/src/core/report/compose-report.ts';
import { startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import { startBedrockTestServer, type BedrockTestServer, type BedrockTestServerOptions } from '../../bench/simulated-bedrock/server.ts';
import { CHARACTEREVAL_PROFILES, readJson, readJsonl, runCli } from '../support/run-cli.ts';

// The CLI runs in a child process that inherits these: dummy credentials for the SDK's signer.
process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY = 'test-secret';
process.env.AWS_REGION = 'us-east-1';
delete process.env.AWS_PROFILE;

const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const HAIKU = 'us.anthropic.claude-haiku-4-5-20251001-v1:0';
type Report = ComposedReport;

let sglang: TestServer | undefined;
let bedrock: BedrockTestServer | undefined;
afterEach(async () => {
  await sglang?.close();
  await bedrock?.close();
  sglang = bedrock = undefined;
});
const tempDir = () => mkdtempSync(join(tmpdir(), 'raiden-strategy-'));

async function generate(args: readonly string[], bedrockOptions: BedrockTestServerOptions = {}, sglangBodies?: string[]) {
  sglang = await startTestServer({ fault: sglangBodies ? (_n, body) => void sglangBodies.push(JSON.stringify(body)) : undefined });
  bedrock = await startBedrockTestServer(bedrockOptions);
  const out = tempDir();
  const result = await runCli(['generate', '--endpoint', sglang.url, '--bedrock-endpoint', bedrock.url, '--out', out, ...args]);
  const read = <T>(name: string) => readJson<T>(join(out, name));
  return {
    out,
    result,
    report: read<Report>('report.json'),
    samples: readJsonl<Sample>(join(out, 'samples.jsonl')),
    rejects: readJsonl<RejectRecord>(join(out, 'rejects.jsonl')),
    train: read<Sample[]>('train.json'),
    validation: read<Sample[]>('validation.json'),
  };
}

/** Bedrock's price for the tokens the report lists, recomputed here from the table's dated prices. */
function sonnetUsd(row: {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
}): number {
  return (row.input_tokens * 3 + row.output_tokens * 15 + row.cache_read_input_tokens * 0.3 + row.cache_write_input_tokens * 3.75) / 1e6;
}

describe('raiden generate strategies end to end (simulated SGLang + Bedrock-compatible HTTP/2 server)', () => {
  it('--backend bedrock: every sample from Converse tool use, prompt cache read, cost from the price table', async () => {
    const { result, report, samples } = await generate(['--profiles', 'examples/profiles.zh.json', '--backend', 'bedrock', '--include-cm']);
    expect(result.stderr).not.toMatch(/unexpected/);
    expect(result.code).toBe(0);
    expect(samples).toHaveLength(9);
    expect(samples.every((s) => s.metadata.backend === 'bedrock' && s.metadata.model === MODEL && s.metadata.strategy === 'bedrock')).toBe(
      true,
    );
    // Every sample call forces its tool; the one call without a tool is the preflight before planning.
    expect(bedrock?.stats.unforcedToolChoice).toBe(1);
    expect(bedrock?.stats.byTool['']).toBe(1);
    expect(sglang?.stats.chatRequests).toBe(0);
    // Slots of one profile share the cached prefix: later ones read it from the cache.
    expect(samples.some((s) => (s.metadata.usage.cache_read_input_tokens ?? 0) > 0)).toBe(true);
    expect(report.backends).toEqual({ bedrock: expect.objectContaining({ samples: 9, rejects: 0, review_calls: 0 }) });
    const row = report.cost.by_model[`bedrock:${MODEL}`];
    expect(row?.cache_read_input_tokens).toBeGreaterThan(0);
    expect(row?.usd).toBeCloseTo(sonnetUsd(row as never), 4);
    expect(report.cost.sglang).toBeNull();
    expect(report.cost.prices_as_of).toMatch(/^\d{4}-\d{2}-\d{2}$/u);
    expect(result.stdout).toMatch(/bedrock\s+9\s+0\s+0/);
  });

  it('tiered: the validation profiles on Bedrock, the rest on SGLang, validation.json is exactly the Bedrock set', async () => {
    const { result, report, train, validation } = await generate([
      '--profiles',
      CHARACTEREVAL_PROFILES,
      '--strategy',
      'tiered',
      '--max-profiles',
      '20',
      '--validation-profiles',
      '5',
    ]);
    expect(result.code).toBe(0);
    expect(new Set(validation.map((s) => s.id.split('/')[0])).size).toBe(5);
    expect(validation.every((s) => s.metadata.backend === 'bedrock' && s.metadata.tier === 'validation')).toBe(true);
    expect(train.every((s) => s.metadata.backend === 'sglang' && s.metadata.tier === 'train')).toBe(true);
    expect(report.backends.bedrock?.samples).toBe(10);
    expect(report.backends.sglang?.samples).toBe(30);
    expect(report.strategy).toMatchObject({ name: 'tiered', validation_profiles_on_bedrock: 5 });
    expect(report.backends.bedrock?.usd).toBeGreaterThan(0);
    expect(report.cost.sglang).toMatchObject({ usd_per_hour: 63 });
    expect(report.cost.total_usd).toBeCloseTo((report.backends.bedrock?.usd ?? 0) + (report.cost.sglang?.usd ?? 0), 3);
  });

  it('filter: k SGLang candidates per slot, Bedrock judges; the best passing one is kept, verdicts in metadata and rejects', async () => {
    const judge: BedrockTestServerOptions['judge'] = (_model, candidate) =>
      // The simulated model opens its second question of a profile with "One more thing."
      /^(One more thing\.|还有，)/u.test(String(candidate.question))
        ? { score: 4, reason: 'The question is vague.' }
        : { score: 8, reason: 'Grounded and in character.' };
    const { result, report, samples, rejects } = await generate(
      [
        '--profiles',
        'examples/profiles.en.jsonl',
        '--strategy',
        'filter',
        '--candidates',
        '3',
        '--min-score',
        '7',
        '--judge-model',
        HAIKU,
        '--max-attempts',
        '2',
      ],
      { judge },
    );
    // Every second SBK slot only ever scores 4: it stays empty, the rest are kept.
    expect(result.code).toBe(3);
    expect(samples).toHaveLength(3);
    expect(sglang?.stats.chatRequests).toBe(3 * 3 + 3 * 2 * 3);
    for (const sample of samples) {
      expect(sample.metadata.judge).toMatchObject({ backend: 'bedrock', model: HAIKU, score: 8, min_score: 7 });
      expect(sample.metadata.review_calls).toEqual([expect.objectContaining({ purpose: 'judge', model: HAIKU })]);
    }
    const below = rejects.filter((r) => r.reason === 'judge_below_min_score');
    expect(below).toHaveLength(3 * 2 * 3);
    expect(below[0]?.review).toMatchObject({ judge: { score: 4, reason: 'The question is vague.' } });
    expect(rejects.filter((r) => r.reason === 'judge_not_best')).toHaveLength(3 * 2);
    expect(report.backends.bedrock).toMatchObject({ samples: 0, review_calls: 27 });
    expect(report.backends.sglang).toMatchObject({ samples: 3, rejects: 24 });
    expect(report.cost.by_model[`bedrock:${HAIKU}`]?.usd).toBeGreaterThan(0);
    expect(report.strategy).toMatchObject({ name: 'filter', candidates: 3, min_score: 7 });
  });

  it('iterative: Bedrock seeds, SGLang expands with the seeds as few-shot examples, the judge evaluates a sample', async () => {
    const bodies: string[] = [];
    const { out, result, report, samples } = await generate(
      [
        '--profiles',
        CHARACTEREVAL_PROFILES,
        '--strategy',
        'iterative',
        '--max-profiles',
        '12',
        '--seed-profiles',
        '2',
        '--evaluate-samples',
        '6',
        '--include-cm',
      ],
      { judge: (_model, candidate) => ({ score: String(candidate.question).includes('第1问') ? 9 : 6, reason: 'ok' }) },
      bodies,
    );
    expect(result.code).toBe(0);
    const seeds = samples.filter((s) => s.metadata.phase === 'seed');
    expect(new Set(seeds.map((s) => s.id.split('/')[0])).size).toBe(2);
    expect(seeds.every((s) => s.metadata.backend === 'bedrock')).toBe(true);
    const expanded = samples.filter((s) => s.metadata.phase === 'expand');
    expect(expanded).toHaveLength(10 * 3);
    expect(expanded.every((s) => s.metadata.backend === 'sglang' && s.metadata.few_shot_seeds === true)).toBe(true);
    expect(bodies).toHaveLength(30);
    expect(bodies.every((body) => body.includes('<example>'))).toBe(true);
    const evaluation = readJsonl<EvaluationRecord>(join(out, 'evaluation.jsonl'));
    expect(evaluation).toHaveLength(6);
    expect(evaluation.every((record) => record.sample_backend === 'sglang')).toBe(true);
    const passed = evaluation.filter((record) => record.passed).length;
    expect(report.evaluation).toMatchObject({ judged: 6, passed, pass_rate: Math.round((passed / 6) * 1000) / 1000, min_score: 7 });
    expect(report.backends.bedrock).toMatchObject({ samples: 6, review_calls: 6 });
    expect(result.stdout).toMatch(/pass rate/);
  });

  it('iterative with --seed-data: an earlier run supplies the seeds, Bedrock writes none', async () => {
    const first = await generate(['--profiles', 'examples/profiles.zh.json', '--backend', 'bedrock', '--include-cm']);
    await sglang?.close();
    await bedrock?.close();
    const { result, samples, report } = await generate([
      '--profiles',
      CHARACTEREVAL_PROFILES,
      '--strategy',
      'iterative',
      '--max-profiles',
      '4',
      '--seed-data',
      first.out,
      '--evaluate-samples',
      '2',
    ]);
    expect(result.code).toBe(0);
    expect(samples.every((s) => s.metadata.backend === 'sglang')).toBe(true);
    expect(report.strategy).toMatchObject({ seed_profiles: 0, seed_data: first.out });
    expect(report.evaluation?.judged).toBe(2);
  });

  it('quality gates: cross-model keyword agreement drops SBK samples another model cannot answer; decisions in metadata', async () => {
    const answer = (model: string, prompt: string) => (model.includes('forgetful') ? 'I really do not remember.' : prompt);
    const agreeing = await generate(
      [
        '--profiles',
        'examples/profiles.en.jsonl',
        '--backend',
        'bedrock',
        '--keyword-agreement-models',
        `bedrock:${HAIKU},bedrock:amazon.nova-pro-v1:0`,
        '--max-attempts',
        '1',
      ],
      { answer },
    );
    expect(agreeing.result.code).toBe(0);
    expect(agreeing.samples.every((s) => (s.metadata.gates as { keyword_agreement: { passed: boolean } }).keyword_agreement.passed)).toBe(
      true,
    );
    expect(agreeing.report.backends.bedrock?.review_calls).toBe(6 * 2);
    await sglang?.close();
    await bedrock?.close();

    const split = await generate(
      [
        '--profiles',
        'examples/profiles.en.jsonl',
        '--include-cm',
        '--keyword-agreement-models',
        `bedrock:${HAIKU}`,
        '--keyword-agreement-models',
        'bedrock:forgetful-model',
        '--max-attempts',
        '1',
      ],
      { answer },
    );
    // The gate covers CM too: the forgetful model cannot answer a CM question either, so nothing is kept.
    expect(split.result.code).toBe(3);
    expect(split.samples).toEqual([]);
    const gated = split.rejects.filter((r) => r.reason === 'gate_keyword_agreement');
    expect(gated).toHaveLength(9);
    expect(gated[0]?.review).toMatchObject({
      gates: {
        keyword_agreement: {
          passed: false,
          answers: [{ contains_keywords: true }, { model: 'bedrock:forgetful-model', contains_keywords: false }],
        },
      },
    });
  });

  it('quality gates: the difficulty filter keeps only what the student answers right sometimes, with the measured pass rate', async () => {
    let calls = 0;
    // student-mixed answers every second time with the whole prompt (every keyword), else without.
    const answer = (model: string, prompt: string) =>
      model === 'student-weak' ? 'No idea.' : model === 'student-mixed' ? (calls++ % 2 === 0 ? prompt : 'No idea.') : prompt;
    const mixed = await generate(
      ['--profiles', 'examples/profiles.en.jsonl', '--difficulty-student-model', 'bedrock:student-mixed', '--max-attempts', '1'],
      { answer },
    );
    expect(mixed.result.code).toBe(0);
    for (const sample of mixed.samples) {
      const gate = (sample.metadata.gates as { difficulty: { pass_rate: number; samples: number } }).difficulty;
      // Concurrent slots share the student, so each sample sees some of its right and some of its wrong answers.
      expect(gate.samples).toBe(4);
      expect(gate.pass_rate).toBeGreaterThan(0);
      expect(gate.pass_rate).toBeLessThan(1);
      expect(sample).toMatchObject({
        difficulty: difficultyOfPassRate(gate.pass_rate),
        metadata: { difficulty_source: 'student_pass_rate' },
      });
    }
    expect(mixed.report.backends.bedrock?.review_calls).toBe(6 * 4);
    await sglang?.close();
    await bedrock?.close();

    for (const student of ['student-weak', 'student-strong']) {
      const run = await generate(
        ['--profiles', 'examples/profiles.en.jsonl', '--difficulty-student-model', `bedrock:${student}`, '--max-attempts', '1'],
        { answer },
      );
      expect(run.result.code).toBe(3);
      expect(run.samples).toHaveLength(0);
      expect(run.report.rejects.total_by_reason).toEqual({ gate_difficulty: 6 });
      await sglang?.close();
      await bedrock?.close();
    }
  });

  it('raiden evaluate --run DIR scores an existing dataset with a judge model and writes a report', async () => {
    const { out } = await generate(['--profiles', 'examples/profiles.zh.json', '--include-cm']);
    const result = await runCli(['evaluate', '--run', out, '--bedrock-endpoint', bedrock?.url ?? '', '--judge-model', HAIKU]);
    expect(result.code).toBe(0);
    const report = readJson<{
      judged: number;
      passed: number;
      pass_rate: number;
      by_model: Record<string, unknown>;
      judge_cost: { total_usd: number };
    }>(join(out, 'evaluation_report.json'));
    expect(report).toMatchObject({
      judged: 9,
      passed: 9,
      pass_rate: 1,
      by_model: { 'sglang:test-model': { judged: 9, passed: 9, pass_rate: 1 } },
    });
    expect(report.judge_cost.total_usd).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'evaluation.jsonl'), 'utf8').trim().split('\n')).toHaveLength(9);
    expect(result.stdout).toMatch(/pass rate\s+100\.0%/);
  });

  it('ends a Bedrock run cleanly when access is refused mid-run, keeping every sample generated so far', async () => {
    const { result, report, samples } = await generate(
      ['--profiles', CHARACTEREVAL_PROFILES, '--backend', 'bedrock', '--max-profiles', '10', '--max-retries', '0', '--concurrency', '2'],
      // Request 1 is the preflight; access ends after six sample calls.
      { fault: (n) => (n > 7 ? 'access_denied' : undefined) },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/stopped early \(Bedrock .*AccessDeniedException/u);
    expect(samples.length).toBeGreaterThanOrEqual(6);
    expect(report.status).toBe('stopped');
    expect(report.samples.accepted).toBe(samples.length);
  });

  it('rejects disagreeing --backend and --strategy with a message that says what to fix', async () => {
    const result = await runCli(['generate', '--profiles', 'examples/npc.json', '--backend', 'sglang', '--strategy', 'filter']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--backend sglang and --strategy filter disagree/);
  });
});
