/**
 * End to end: every sample a run accepts passes the independent checks of bench/scenarios/sample-checks.ts,
 * on real profiles in every format; plus the field-aware plan and the evaluation-character exclusion.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACCEPT_RATE_PROFILES, checkAccepted, generateAcceptRateRun } from '../../../bench/scenarios/accept-rate.ts';
import { startTestServer } from '../../../bench/simulated-sglang/server.ts';
import { main } from '../../../orchestrator/src/cli/main.ts';
import { fieldQuestionTypes, isFocusField, planSlots } from '../../../orchestrator/src/core/profiles/plan.ts';
import { excludeCharacters } from '../../../orchestrator/src/core/run/prepare-run.ts';
import { parseProfiles } from '../../../orchestrator/src/core/profiles/profile-loader.ts';
import type { RunReport } from '../../../orchestrator/src/core/report/run-report.ts';

const ROOT = new URL('../../..', import.meta.url).pathname;
const quiet = { isTTY: false, write: () => true };
const load = (file: string) => parseProfiles(readFileSync(join(ROOT, file)), file);

describe('accepted samples a GRPO trainer can trust', () => {
  it('re-checks every accepted sample of a run on every example format and CharacterEval with independent checks', async () => {
    const server = await startTestServer({ model: 'simulated-sglang' });
    const dirs: string[] = [];
    try {
      for (const file of ACCEPT_RATE_PROFILES) {
        const out = mkdtempSync(join(tmpdir(), 'raiden-trusted-'));
        const code = await generateAcceptRateRun(file, server.url, out);
        expect(code, file).toBe(0);
        dirs.push(out);
      }
    } finally {
      await server.close();
    }
    const recheck = checkAccepted(dirs);
    expect(recheck.checked).toBe(88 * 4);
    expect(recheck.problems).toEqual({});
    const report = JSON.parse(readFileSync(join(dirs[0]!, 'report.json'), 'utf8')) as RunReport;
    expect(report.samples.accepted).toBe(3 * 4);
  }, 60_000);
});

describe('field-aware focus', () => {
  it('never focuses SBK on a name, alias, gender, type or one-character field, and uses k distinct fields', () => {
    const { profiles } = load('test/fixtures/charactereval_profiles.json');
    const slots = planSlots(profiles, { samplesPerProfile: 4, cmPerProfile: 0, language: 'auto', seed: 42 });
    const fields = slots.map((slot) => slot.focus.field).filter((field): field is string => field !== undefined);
    expect(fields.filter((field) => /^(姓名|性别|物种|昵称)$/u.test(field))).toEqual([]);
    for (const profile of profiles) {
      const own = slots.filter((slot) => slot.profileId === profile.id && slot.focus.field !== undefined).map((slot) => slot.focus.field);
      expect(new Set(own).size, profile.id).toBe(own.length);
      const eligible = Object.keys(profile.fields).filter((key) => isFocusField(key, profile.fields[key]!)).length;
      expect(own.length, profile.id).toBe(Math.min(4, eligible));
    }
    // Many distinct fields are chosen across the profiles, not a handful.
    expect(new Set(fields).size).toBeGreaterThan(30);
  });

  it('asks the question type that suits the field', () => {
    expect(fieldQuestionTypes('人物关系')).toEqual(['who']);
    expect(fieldQuestionTypes('居住地')).toEqual(['where']);
    expect(fieldQuestionTypes('生日')).toEqual(['when']);
    expect(fieldQuestionTypes('年龄')).toEqual(['how']);
    expect(fieldQuestionTypes('hometown')).toEqual(['where']);
    expect(fieldQuestionTypes('爱好')).toEqual(['what']);
    const { profiles } = load('test/fixtures/charactereval_profiles.json');
    for (const slot of planSlots(profiles, { samplesPerProfile: 3, cmPerProfile: 1, language: 'auto', seed: 42 })) {
      if (slot.focus.field !== undefined) expect(fieldQuestionTypes(slot.focus.field)).toContain(slot.focus.questionType);
    }
  });

  it('turns labelled lines anywhere in a profile into fields, in the RAIDEN JSONL body and in generic records', () => {
    const raiden = JSON.stringify({
      prompt:
        '<Character Setting>\nName: 小明\nGender: male\nIntroduction: 高中生。\nDetailed Description: 小明今年17岁。\nHobbies: 打篮球\nDream: 插画师\n</Character Setting>',
    });
    const parsed = parseProfiles(Buffer.from(raiden), 'r.jsonl', 'raiden-jsonl').profiles[0]!;
    expect(parsed.fields).toMatchObject({ Name: '小明', Gender: 'male', Hobbies: '打篮球', Dream: '插画师' });
    const generic = parseProfiles(
      Buffer.from(JSON.stringify([{ name: 'Eve', bio: 'A clerk.\nAge: 30\nPet: a ferret named Pip' }])),
      'g.json',
    ).profiles[0]!;
    expect(generic.fields).toMatchObject({ bio: 'A clerk.', Age: '30', Pet: 'a ferret named Pip' });
    const oneLine = load('examples/raiden-r1.jsonl').profiles[0]!;
    expect(oneLine.fields.Gender).toBe('Female');
  });

  it('collects aliases from alias fields, each item of a list', () => {
    const chen = load('test/fixtures/charactereval_profiles.json').profiles.find((profile) => profile.id === '老默')!;
    expect(chen.name).toBe('老默');
    expect(chen.aliases).toEqual(['陈金默', '默哥']);
  });
});

describe('evaluation characters kept out', () => {
  it('refuses the profiles whose name or alias is listed, each reported with the reason', () => {
    const loaded = load('test/fixtures/charactereval_profiles.json');
    const kept = excludeCharacters(loaded, ['老默', '沙悟净', 'Nobody']);
    expect(kept.profiles).toHaveLength(loaded.profiles.length - 2);
    expect(kept.rejected.slice(-2).map((rejection) => rejection.reason)).toEqual([
      expect.stringContaining('"老默" is on the list of names to exclude'),
      expect.stringContaining('"沙悟净" is on the list of names to exclude'),
    ]);
  });

  it('reads --exclude-names as lines or as a benchmark JSON keyed by name, and reports the refused profiles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raiden-exclude-'));
    const list = join(dir, 'names.txt');
    writeFileSync(list, '# RAIDEN benchmark characters\n林晚舟\n');
    const out = join(dir, 'run');
    const code = await main(
      ['generate', '--profiles', join(ROOT, 'examples/profiles.zh.json'), '--exclude-names', list, '--out', out, '--dry-run'],
      { stdout: quiet, stderr: quiet },
    );
    expect(code).toBe(0);
    const prompts = readFileSync(join(out, 'prompts.jsonl'), 'utf8');
    expect(prompts).not.toContain('林晚舟/');
    expect(prompts).toContain('赵铁山/');
    const npc = join(dir, 'npc.json');
    writeFileSync(npc, readFileSync(join(ROOT, 'examples/npc.json')));
    const second = join(dir, 'run2');
    expect(
      await main(['generate', '--profiles', join(ROOT, 'examples/npc.json'), '--exclude-names', npc, '--out', second, '--dry-run'], {
        stdout: quiet,
        stderr: quiet,
      }),
    ).toBe(2);
  });
});
