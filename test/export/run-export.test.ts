/**
 * `raiden export` on real runs of the example profiles: every format from a local run and from the same
 * run in S3, every Parquet file read back by DuckDB, the reward of each trainer's entry point run on the
 * ground truth as read back, the dataset card, and runs written before the profile table existed.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../orchestrator/src/cli/cli-io.ts';
import { addExportCommand, runExport } from '../../orchestrator/src/cli/export-command.ts';
import { UsageError } from '../../orchestrator/src/cli/usage-error.ts';
import { RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import rules from '../../orchestrator/src/core/verify/data/keyword-rules.json' with { type: 'json' };
import traditional from '../../orchestrator/src/core/verify/data/traditional-chinese.json' with { type: 'json' };
import guards from '../../orchestrator/src/core/verify/data/answer-guards.json' with { type: 'json' };
import { EXPORT_FORMATS, type ExportFormat } from '../../orchestrator/src/core/export/export-formats.ts';
import type { ProfileRecord } from '../../orchestrator/src/core/export/profile-table.ts';
import { profileIdOf } from '../../orchestrator/src/core/run/dataset-split.ts';
import { canonicalText, containsKeyword } from '../../orchestrator/src/core/verify/keyword-match.ts';
import { renderProfileText } from '../../orchestrator/src/core/profiles/profile.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { startLocalS3, type LocalS3 } from '../support/local-s3.ts';
import { CHARACTEREVAL_PROFILES, readJson, readJsonl, ROOT } from '../support/run-cli.ts';
import { makeRun } from './export-run.ts';
import { readParquet } from './parquet-reader.ts';
import { pythonRun } from './python-reward.ts';

const BUCKET = 'raiden-export-test';
const NOW = () => new Date('2026-02-01T00:00:00Z');
const RUNS = {
  zh: { profiles: join(ROOT, 'examples/profiles.zh.json'), samplesPerProfile: 4, cmPerProfile: 2 },
  en: { profiles: join(ROOT, 'examples/profiles.en.jsonl'), samplesPerProfile: 4, cmPerProfile: 2 },
  characters: { profiles: CHARACTEREVAL_PROFILES },
} as const;
type RunName = keyof typeof RUNS;

function quiet(): { io: CliIo; stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (text: string) => (out += text) }, stderr: { write: (text: string) => (err += text) } },
    stdout: () => out,
    stderr: () => err,
  };
}

/** What each export of beforeAll exited with and printed, by `<run>/<format>`. */
const exportOutputs = new Map<string, { code: number; stdout: string; stderr: string }>();

let root: string;
let s3: LocalS3;
const runDir = (name: string) => join(root, 'runs', name);
const exportDir = (name: string, format: ExportFormat, from: 'local' | 's3' = 'local') => join(root, 'exports', from, name, format);
const splitSamples = (name: string): Record<'train' | 'validation', Sample[]> => ({
  train: readJson<Sample[]>(join(runDir(name), RUN_FILES.train)),
  validation: readJson<Sample[]>(join(runDir(name), RUN_FILES.validation)),
});

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'raiden-export-'));
  s3 = await startLocalS3([BUCKET]);
  for (const [name, options] of Object.entries(RUNS)) await makeRun({ directory: runDir(name), ...options });
  await makeRun({ directory: runDir('legacy'), ...RUNS.zh, withProfileTable: false });
  for (const name of [...Object.keys(RUNS), 'legacy'])
    for (const format of EXPORT_FORMATS) {
      // The reward probe runs on the CharacterEval run's exports (every trainer's call); the rest skip it for time.
      const output = quiet();
      const code = await runExport({ run: runDir(name), format, out: exportDir(name, format), probe: name === 'characters' }, output.io, {
        now: NOW,
      });
      exportOutputs.set(`${name}/${format}`, { code, stdout: output.stdout(), stderr: output.stderr() });
    }
});
afterAll(async () => {
  await s3.close();
  rmSync(root, { recursive: true, force: true });
});

const EXPECTED_SCHEMA: Record<Exclude<ExportFormat, 'sft'>, Record<string, string>> = {
  verl: {
    data_source: 'VARCHAR',
    prompt: 'STRUCT("role" VARCHAR, "content" VARCHAR)[]',
    ability: 'VARCHAR',
    reward_model: 'STRUCT(style VARCHAR, ground_truth VARCHAR)',
    extra_info:
      'STRUCT("index" BIGINT, id VARCHAR, "character" VARCHAR, split VARCHAR, kind VARCHAR, question_type VARCHAR, difficulty VARCHAR)',
  },
  trl: {
    prompt: 'STRUCT("role" VARCHAR, "content" VARCHAR)[]',
    keywords: 'VARCHAR[]',
    keyword_alternatives: 'VARCHAR[][]',
    kind: 'VARCHAR',
    ground_truth: 'VARCHAR',
    id: 'VARCHAR',
  },
  easyr1: { prompt: 'VARCHAR', answer: 'VARCHAR', id: 'VARCHAR' },
};

interface Message {
  readonly role: string;
  readonly content: string;
}

describe('the reward probe of every export', () => {
  it.each(['verl', 'trl', 'easyr1'] as const)(
    '%s: scores every hack through the exported reward as the trainer calls it; none is paid',
    (format) => {
      const output = exportOutputs.get(`characters/${format}`);
      expect(output?.stderr).toBe('');
      expect(output?.code).toBe(0);
      expect(output?.stdout).toMatch(new RegExp(`reward probe, scored by raiden_reward\\.py as ${format} calls it`, 'u'));
      expect(output?.stdout).toMatch(/keyword denied\s+\d+\s+0 \(0%\)/u);
      expect(output?.stdout).toMatch(/reference answers: \d+ rows, lowest score 1\.00/u);
    },
  );

  it('fails the command, naming the hacks, when the exported reward pays them (guards switched off)', async () => {
    const weak = join(root, 'weak-reward');
    cpSync(exportDir('characters', 'verl'), weak, { recursive: true });
    const guards = readJson<{ reward: { penalty: Record<string, number> } }>(join(weak, 'answer-guards.json'));
    for (const guard of Object.keys(guards.reward.penalty)) guards.reward.penalty[guard] = 0;
    writeFileSync(join(weak, 'answer-guards.json'), JSON.stringify(guards));
    const { runCli } = await import('../support/run-cli.ts');
    const result = await runCli(['probe-reward', '--export', weak]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/keyword denied\s+\d+\s+[1-9]\d* \(\d+%\)/u);
    expect(result.stderr).toMatch(/the reward pays these hacks: .*keyword denied/u);
  });

  it('is not run for SFT, which has no reward', () => {
    expect(exportOutputs.get('characters/sft')?.stdout).not.toMatch(/reward probe/u);
  });
});

describe('raiden export from a local run', () => {
  it('writes each format: data files per split, the reward function with its data, a dataset card', () => {
    for (const name of Object.keys(RUNS))
      for (const format of EXPORT_FORMATS) {
        const extension = format === 'sft' ? 'jsonl' : 'parquet';
        expect(readdirSync(exportDir(name, format)).sort()).toEqual(
          [
            '.raiden-export.json',
            ...(format === 'sft' ? ['dataset_info.json'] : []),
            'README.md',
            'answer-guards.json',
            'keyword-rules.json',
            'raiden_reward.py',
            `train.${extension}`,
            'traditional-chinese.json',
            `validation.${extension}`,
          ].sort(),
        );
      }
    const shipped = exportDir('zh', 'verl');
    expect(readFileSync(join(shipped, 'raiden_reward.py'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'orchestrator/src/core/export/raiden_reward.py'), 'utf8'),
    );
    expect(readJson(join(shipped, 'keyword-rules.json'))).toEqual(rules);
    expect(readJson(join(shipped, 'traditional-chinese.json'))).toEqual(traditional);
    expect(readJson(join(shipped, 'answer-guards.json'))).toEqual(guards);
  });

  it('writes Parquet that DuckDB reads with the declared schema, one row per sample in split order', async () => {
    for (const name of Object.keys(RUNS) as RunName[]) {
      const samples = splitSamples(name);
      for (const format of ['verl', 'trl', 'easyr1'] as const)
        for (const split of ['train', 'validation'] as const) {
          const { schema, rows } = await readParquet(join(exportDir(name, format), `${split}.parquet`));
          expect(schema).toEqual(EXPECTED_SCHEMA[format]);
          expect(rows).toHaveLength(samples[split].length);
          const ids = rows.map((row) => (format === 'verl' ? (row.extra_info as { id: string }).id : row.id));
          expect(ids).toEqual(samples[split].map((sample) => sample.id));
        }
    }
    const verl = await readParquet(join(exportDir('zh', 'verl'), 'train.parquet'));
    const sample = splitSamples('zh').train[0] as Sample;
    expect(verl.rows[0]).toMatchObject({
      data_source: `raiden/${sample.metadata.kind.toLowerCase()}`,
      ability: 'roleplay',
      reward_model: { style: 'rule' },
      extra_info: { index: '0', id: sample.id, character: sample.character_name, split: 'train', question_type: sample.question_type },
    });
    const truth = JSON.parse((verl.rows[0]?.reward_model as { ground_truth: string }).ground_truth) as Record<string, unknown>;
    expect(truth).toMatchObject({
      keywords: sample.keywords,
      keyword_alternatives: sample.keyword_alternatives,
      kind: sample.metadata.kind,
      language: sample.metadata.language,
      reference_answer: sample.answer,
    });
    expect(Object.keys(truth).sort()).toEqual(
      [
        'allowed_numbers',
        'distractors',
        'in_character',
        'keyword_alternatives',
        'keywords',
        'kind',
        'language',
        'reference_answer',
        'rivals',
      ].sort(),
    );
    expect(verl.rows.map((row) => (row.extra_info as { index: string }).index)).toEqual(verl.rows.map((_, index) => String(index)));
  });

  it('prompts with the profile text the generator saw, the CM turns as messages and the question last, in the profile’s language', async () => {
    for (const name of ['zh', 'en'] as const) {
      const table = new Map(readJsonl<ProfileRecord>(join(runDir(name), RUN_FILES.profiles)).map((record) => [record.id, record]));
      const { rows } = await readParquet(join(exportDir(name, 'trl'), 'train.parquet'));
      const samples = splitSamples(name).train;
      expect(samples.some((sample) => sample.metadata.kind === 'CM')).toBe(true);
      rows.forEach((row, index) => {
        const sample = samples[index] as Sample;
        const profile = table.get(profileIdOf(sample.id)) as ProfileRecord;
        const [system, ...rest] = row.prompt as Message[];
        expect(system?.role).toBe('system');
        expect(system?.content).toContain(`<character_profile>\n${profile.text}\n</character_profile>`);
        expect(system?.content.startsWith(name === 'zh' ? '你就是' : 'You are')).toBe(true);
        expect(rest).toEqual([...sample.conversation_history, { role: 'user', content: sample.question }]);
      });
      const easyr1 = await readParquet(join(exportDir(name, 'easyr1'), 'train.parquet'));
      const cm = samples.findIndex((sample) => sample.metadata.kind === 'CM');
      const text = easyr1.rows[cm]?.prompt as string;
      expect(text).toContain(`<conversation>\nuser: ${samples[cm]?.conversation_history[0]?.content}`);
      expect(text.endsWith(`user: ${samples[cm]?.question}`)).toBe(true);
    }
  });

  it('writes SFT conversations whose assistant turn is the reasoning in a think block, then the answer', () => {
    const samples = splitSamples('en');
    for (const split of ['train', 'validation'] as const) {
      const lines = readJsonl<{ messages: Message[]; id: string }>(join(exportDir('en', 'sft'), `${split}.jsonl`));
      expect(lines.map((line) => line.id)).toEqual(samples[split].map((sample) => sample.id));
      lines.forEach((line, index) => {
        const sample = samples[split][index] as Sample;
        expect(line.messages.at(-1)).toEqual({ role: 'assistant', content: `<think>\n${sample.reasoning}\n</think>\n\n${sample.answer}` });
        expect(line.messages.at(-2)).toEqual({ role: 'user', content: sample.question });
      });
    }
  });

  it("rewards each sample's own answer with 1.0 and another profile's answer with 0.0, through every trainer's entry point", async () => {
    const verdicts: { own: number; other: number }[] = [];
    const sameFact: { answer: string; keywords: readonly string[]; alternatives: readonly (readonly string[])[] }[] = [];
    for (const name of Object.keys(RUNS) as RunName[]) {
      const { train, validation } = splitSamples(name);
      const samples = [...train, ...validation];
      const profiles = [...new Set(samples.map((sample) => profileIdOf(sample.id)))];
      // The answer at the same position of the next profile whose sample there states another fact: the
      // simulated model draws CM details from four per topic, so two profiles can share one, and an answer
      // stating the same fact is right to score 1.0 (counted apart below).
      const byProfile = new Map(profiles.map((id) => [id, samples.filter((sample) => profileIdOf(sample.id) === id)]));
      const fact = (sample: Sample) => sample.keywords.map(canonicalText).sort().join('|');
      const partnerOf = (sample: Sample, sameFact: boolean): Sample | undefined => {
        const mine = byProfile.get(profileIdOf(sample.id)) ?? [];
        const position = mine.findIndex((candidate) => candidate.id === sample.id);
        const start = profiles.indexOf(profileIdOf(sample.id));
        for (let step = 1; step < profiles.length; step++) {
          const next = byProfile.get(profiles[(start + step) % profiles.length] as string) ?? [];
          const partner = next[position % next.length];
          if (partner !== undefined && (fact(partner) === fact(sample)) === sameFact) return partner;
        }
        return undefined;
      };
      const otherAnswer = (sample: Sample) => (partnerOf(sample, false) as Sample).answer;
      for (const sample of samples) {
        const twin = partnerOf(sample, true);
        if (twin !== undefined)
          sameFact.push({ answer: twin.answer, keywords: sample.keywords, alternatives: sample.keyword_alternatives });
      }
      const completion = (sample: Sample, answer: string) => `<think>\n${sample.reasoning}\n</think>\n\n${answer}`;
      for (const split of ['train', 'validation'] as const) {
        const splitRows = splitSamples(name)[split];
        const verl = (await readParquet(join(exportDir(name, 'verl'), `${split}.parquet`))).rows;
        const trl = (await readParquet(join(exportDir(name, 'trl'), `${split}.parquet`))).rows;
        const easyr1 = (await readParquet(join(exportDir(name, 'easyr1'), `${split}.parquet`))).rows;
        const scores = pythonRun<Record<'verl' | 'trl' | 'easyr1', number[]>>(
          exportDir(name, 'verl'),
          `import raiden_reward as r
d = json.load(sys.stdin)
out = {
  "verl": [r.compute_score(row["data_source"], c, row["reward_model"]["ground_truth"], row["extra_info"])["score"] for row, c in zip(d["verl"], d["completions"])],
  "trl": r.keyword_reward([[{"role": "assistant", "content": c}] for c in d["completions"]], [row["keywords"] for row in d["trl"]], [row["keyword_alternatives"] for row in d["trl"]], ground_truth=[row["ground_truth"] for row in d["trl"]], kind=[row["kind"] for row in d["trl"]]),
  "easyr1": [s["overall"] for s in r.easyr1_compute_score([{"response": c, "response_length": len(c), "ground_truth": row["answer"]} for row, c in zip(d["easyr1"], d["completions"])])],
}
print(json.dumps(out))`,
          {
            verl: [...verl, ...verl],
            trl: [...trl, ...trl],
            easyr1: [...easyr1, ...easyr1],
            completions: [
              ...splitRows.map((sample) => completion(sample, sample.answer)),
              ...splitRows.map((sample) => completion(sample, otherAnswer(sample))),
            ],
          },
        );
        expect(scores.trl).toEqual(scores.verl);
        expect(scores.easyr1).toEqual(scores.verl);
        splitRows.forEach((_, index) =>
          verdicts.push({ own: scores.verl[index] as number, other: scores.verl[index + splitRows.length] as number }),
        );
      }
    }
    expect(verdicts.length).toBeGreaterThan(250);
    expect(verdicts.filter((verdict) => verdict.own === 1).length).toBe(verdicts.length);
    expect(verdicts.filter((verdict) => verdict.other === 0).length / verdicts.length).toBeGreaterThanOrEqual(0.99);
    // Another profile's answer that states the same fact holds the keywords, and scores as the verifier would accept it.
    expect(sameFact.length).toBeGreaterThan(0);
    const twins = pythonRun<number[]>(
      exportDir('zh', 'verl'),
      'import raiden_reward as r\nprint(json.dumps([r.keywords_score(a, k, x) for a, k, x in json.load(sys.stdin)]))',
      sameFact.map((twin) => [twin.answer, twin.keywords, twin.alternatives]),
    );
    expect(twins).toEqual(
      sameFact.map((twin) =>
        twin.keywords.every((keyword, index) => containsKeyword(twin.answer, keyword, twin.alternatives[index] ?? [])) ? 1 : 0,
      ),
    );
  });

  it('writes a dataset card with Hugging Face front matter, prompt lengths, a license note and how the run was generated, naming no local path', () => {
    const card = readFileSync(join(exportDir('zh', 'verl'), 'README.md'), 'utf8');
    const front = card.split('---\n')[1] ?? '';
    // The card describes the reward the export ships: its guards and the data file they read.
    expect(card).toContain('`answer-guards.json`');
    expect(card).toMatch(/Every `<think>\.\.\.<\/think>` block is dropped first, wherever it stands/u);
    expect(front).toContain('language:\n- zh\n');
    expect(front).toContain('task_categories:\n- text-generation\n');
    expect(front).toContain('size_categories:\n- n<1K\n');
    expect(front).toContain(
      'configs:\n- config_name: default\n  data_files:\n  - split: train\n    path: train.parquet\n  - split: validation\n    path: validation.parquet\n',
    );
    expect(front).toMatch(/^license: unknown$/mu);
    expect(card).toContain('## Prompt lengths');
    expect(card).toMatch(/\| train \| SBK \| \d+ \| \d+ \| \d+ \| \d+ \|/u);
    expect(card).toContain('The prompts quote the character profiles of `profiles.zh.json` word for word');
    expect(card).toContain('written by `sglang:qwen-sim`');
    // The card is published with the data: no directory of this machine, no endpoint.
    expect(card).not.toContain(root);
    expect(card).not.toContain(ROOT);
    expect(card).not.toMatch(/https?:\/\//u);
    expect(card).toContain('"profiles": "profiles.zh.json"');
    expect(card).toContain('"endpoints": [\n    "(not shown)"\n  ]');
    const report = readJson<{ run_id: string; samples: { accepted: number } }>(join(runDir('zh'), RUN_FILES.report));
    expect(card).toContain(`in the run \`${report.run_id}\`, exported on 2026-02-01T00:00:00.000Z.`);
    expect(card).toContain(`- Samples: ${report.samples.accepted} accepted`);
    expect(card).toContain('- Models: `sglang:qwen-sim`.');
    expect(card).toContain('  reward.custom_reward_function.name=compute_score \\\n');
    expect(card).toContain('"samples_per_profile": 4');
    expect(card).toContain('2026-02-01T00:00:00.000Z');
    expect(card).toContain("the run's profile table (`profiles.jsonl`)");
    expect(readFileSync(join(exportDir('en', 'trl'), 'README.md'), 'utf8')).toContain('language:\n- en\n');
    expect(readFileSync(join(exportDir('en', 'easyr1'), 'README.md'), 'utf8')).toContain(
      'worker.reward.reward_function=$EXPORT/raiden_reward.py:easyr1_compute_score',
    );
  });
});

describe('raiden export from a run without a profile table', () => {
  it("renders the profile from the samples' character_profile, which is the text the generator saw, and says so", async () => {
    const legacy = await readParquet(join(exportDir('legacy', 'verl'), 'train.parquet'));
    const samples = splitSamples('legacy').train;
    legacy.rows.forEach((row, index) => {
      const sample = samples[index] as Sample;
      expect((row.prompt as Message[])[0]?.content).toContain(
        `<character_profile>\n${renderProfileText({ ...sample.character_profile })}\n</character_profile>`,
      );
    });
    // The same profiles run with a table: the rendering is the generator's text, so the prompts are the same.
    const withTable = await readParquet(join(exportDir('zh', 'verl'), 'train.parquet'));
    expect(legacy.rows.map((row) => row.prompt)).toEqual(withTable.rows.map((row) => row.prompt));
    const card = readFileSync(join(exportDir('legacy', 'verl'), 'README.md'), 'utf8');
    expect(card).toContain(
      `so the profile text of ${legacy.rows.length + splitSamples('legacy').validation.length} samples was rendered from their \`character_profile\``,
    );
    const { io, stdout } = quiet();
    await runExport({ run: runDir('legacy'), format: 'trl', out: join(root, 'legacy-again') }, io);
    expect(stdout()).toContain('the run has no profiles.jsonl');
  });
});

describe('raiden export from a run in S3', () => {
  it('writes the same data files from the run under its S3 prefix as from the directory', async () => {
    const prefix = 'runs/zh-run/';
    for (const name of readdirSync(runDir('zh')))
      await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}${name}`, Body: readFileSync(join(runDir('zh'), name)) }));
    for (const format of EXPORT_FORMATS) {
      const { io, stdout } = quiet();
      const out = exportDir('zh', format, 's3');
      await runExport({ run: `s3://${BUCKET}/runs/zh-run`, format, out }, io, { s3: s3.client, now: NOW });
      expect(stdout()).toContain(`export of s3://${BUCKET}/${prefix}`);
      // The card names no location either, so it is the same file too (dot files are the directory's own bookkeeping).
      for (const name of readdirSync(exportDir('zh', format)).filter((file) => !file.startsWith('.')))
        expect(readFileSync(join(out, name)).equals(readFileSync(join(exportDir('zh', format), name))), `${format}/${name}`).toBe(true);
      expect(readFileSync(join(out, 'README.md'), 'utf8')).not.toContain(BUCKET);
    }
  });

  it('refuses what is not a run prefix, and a run Finalize has not finished', async () => {
    const out = join(root, 'nothing');
    await expect(runExport({ run: 's3://', format: 'verl', out }, quiet().io, { s3: s3.client })).rejects.toThrow(
      /is not a run's S3 prefix/u,
    );
    await expect(runExport({ run: `s3://${BUCKET}/runs/missing`, format: 'verl', out }, quiet().io, { s3: s3.client })).rejects.toThrow(
      new UsageError(
        `s3://${BUCKET}/runs/missing/ has no train.json: the run has not been finalized yet; let raiden generate (or the workflow's Finalize) finish it, then export`,
      ),
    );
  });
});

describe('raiden export on the command line', () => {
  it('registers on the program with its flags, and refuses a missing run or an unknown format', async () => {
    let exit = -1;
    const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined });
    addExportCommand(program, quiet().io, (code) => (exit = code));
    const out = join(root, 'command');
    await program.parseAsync(['export', '--run', runDir('en'), '--format', 'easyr1', '--out', out], { from: 'user' });
    expect(exit).toBe(0);
    expect(readdirSync(out)).toContain('train.parquet');
    await expect(
      program.parseAsync(['export', '--run', runDir('en'), '--format', 'openrlhf', '--out', out], { from: 'user' }),
    ).rejects.toThrow(/argument 'openrlhf' is invalid/u);
    await program.parseAsync(
      [
        'export',
        '--run',
        runDir('en'),
        '--format',
        'sft',
        '--out',
        join(root, 'licensed'),
        '--license',
        'cc-by-4.0',
        '--tokenizer',
        'estimate',
      ],
      { from: 'user' },
    );
    const card = readFileSync(join(root, 'licensed', 'README.md'), 'utf8');
    expect(card).toMatch(/^license: cc-by-4\.0$/mu);
    expect(card).not.toContain('not chosen');
    expect(card).toContain('estimated without a tokenizer');
    await expect(
      program.parseAsync(['export', '--run', runDir('en'), '--format', 'sft', '--out', out, '--tokenizer', 'gpt2'], { from: 'user' }),
    ).rejects.toThrow(/argument 'gpt2' is invalid/u);
    await expect(runExport({ run: runDir('en'), format: 'sft', out, license: 'CC BY 4.0' }, quiet().io)).rejects.toThrow(
      /--license "CC BY 4.0" is not a license identifier: give a Hugging Face one in lower case/u,
    );
    const missing = join(root, 'no-such-run');
    await expect(runExport({ run: missing, format: 'verl', out }, quiet().io)).rejects.toThrow(
      new UsageError(`--run ${missing} is not a directory: pass the run directory of raiden generate`),
    );
  });
});
