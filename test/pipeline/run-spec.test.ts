/** One RunSpec behind both front doors: the same defaults, the same rules, each problem rendered in the door's own terms. */
import { describe, expect, it } from 'vitest';
import { parseRunSpec, parseWorkflowSpec, renderProblems, RUN_DEFAULTS, RunSpecError } from '../../orchestrator/src/core/run/run-spec.ts';
import { flagOf, runSpecFields } from '../../orchestrator/src/cli/run-spec-flags.ts';

const problems = (work: () => unknown): RunSpecError => {
  try {
    work();
  } catch (error) {
    if (error instanceof RunSpecError) return error;
    throw error;
  }
  throw new Error('expected a RunSpecError');
};

describe('RunSpec', () => {
  it('gives a CLI run and a workflow run the same defaults for every field they share', () => {
    const local = parseRunSpec({ profiles: 'roles.jsonl' });
    const workflow = parseWorkflowSpec({ profiles: 's3://my-inputs/roles.jsonl' });
    for (const key of [
      'samplesPerProfile',
      'includeCm',
      'language',
      'seed',
      'maxAttempts',
      'validationRatio',
      'strategy',
      'maxTokens',
      'temperature',
      'bedrockModel',
      'candidates',
      'minScore',
      'seedProfiles',
      'evaluateSamples',
    ] as const) {
      expect(workflow[key], key).toEqual(local[key]);
      expect(local[key], key).toEqual(RUN_DEFAULTS[key]);
    }
    expect(workflow).toMatchObject({ teardown: 'always', instances: 1, readinessTimeoutMinutes: 45, toleratedFailurePercent: 5 });
  });

  it('takes deployment defaults for the workflow from the Plan Lambda', () => {
    expect(
      parseWorkflowSpec(
        { profiles: 's3://b-1/x' },
        { bedrockModel: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', readinessTimeoutMinutes: 90 },
      ),
    ).toMatchObject({
      bedrockModel: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
      readinessTimeoutMinutes: 90,
    });
  });

  it('names a bad field by its flag for the CLI and by its input key for the workflow', () => {
    const cli = problems(() => parseRunSpec(runSpecFields({ profiles: 'roles.jsonl', samplesPerProfile: -1, minScore: 11 })));
    expect(renderProblems(cli.problems, flagOf)).toMatch(/^--samples-per-profile -1: .*\n--min-score 11: /u);
    const workflow = problems(() => parseWorkflowSpec({ profiles: 's3://b-1/x', samplesPerProfile: -1 }));
    expect(workflow.message).toMatch(/^samplesPerProfile -1: /u);
    expect(workflow.name).toBe('InvalidInput');
  });

  it('renders cross-field rules in each door’s terms', () => {
    const error = problems(() =>
      parseRunSpec({
        profiles: 'r.jsonl',
        strategy: 'tiered',
        bedrockBatch: 's3://bucket/p',
        bedrockBatchRole: 'arn:aws:iam::123456789012:role/r',
      }),
    );
    expect(renderProblems(error.problems, flagOf)).toBe(
      '--bedrock-batch works only with --strategy bedrock, not with --strategy tiered: batch inference writes every slot on Bedrock',
    );
    expect(renderProblems(error.problems, (field) => field)).toBe(
      'bedrockBatch works only with strategy bedrock, not with strategy tiered: batch inference writes every slot on Bedrock',
    );
    const stray = problems(() => parseRunSpec({ profiles: 'r.jsonl', bedrockBatchRole: 'arn:aws:iam::123456789012:role/r' }));
    expect(renderProblems(stray.problems, flagOf)).toMatch(/^--bedrock-batch-role only apply with --bedrock-batch s3:\/\/bucket\/prefix$/u);
  });

  it('refuses unknown workflow fields, listing the known ones', () => {
    expect(problems(() => parseWorkflowSpec({ profiles: 's3://b-1/x', samplesPerProfil: 3 })).message).toMatch(
      /unknown field "samplesPerProfil": remove it or use one of profiles, format, samplesPerProfile/u,
    );
  });

  it('reads a count or a share of profiles for seedProfiles and validationProfiles', () => {
    expect(parseRunSpec({ profiles: 'r', seedProfiles: 20, validationProfiles: 0.25 })).toMatchObject({
      seedProfiles: 20,
      validationProfiles: 0.25,
    });
    expect(problems(() => parseRunSpec({ profiles: 'r', seedProfiles: 2.5 })).message).toMatch(
      /seedProfiles 2\.5: expected a number of profiles/u,
    );
  });

  it('refuses --backend and --strategy that disagree, and --backend alone picks the strategy', () => {
    expect(() => runSpecFields({ profiles: 'r', backend: 'sglang', strategy: 'filter' })).toThrow(
      /--backend sglang and --strategy filter disagree/u,
    );
    expect(parseRunSpec(runSpecFields({ profiles: 'r', backend: 'bedrock' })).strategy).toBe('bedrock');
  });

  it('checks gate model specs', () => {
    expect(
      parseRunSpec({
        profiles: 'r',
        keywordAgreementModels: [
          'bedrock:us.anthropic.claude-haiku-4-5-20251001-v1:0',
          'sglang:Qwen/Qwen2.5-7B-Instruct@http://localhost:30001',
        ],
      }).keywordAgreementModels,
    ).toHaveLength(2);
    expect(problems(() => parseRunSpec({ profiles: 'r', difficultyStudentModel: 'sglang:' })).message).toMatch(
      /difficultyStudentModel "sglang:": expected bedrock:<model id> or sglang:<model>/u,
    );
  });
});
