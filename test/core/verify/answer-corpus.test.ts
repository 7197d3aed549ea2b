/**
 * Issue 18's acceptance corpus: every case through the verifier with the context a generation run gives it
 * (verifyOutput), then every case through `raiden generate` against a model server that answers each slot
 * with its case. Every case must get its expected verdict (a bad one rejected for a reason of its category,
 * a good one accepted) unless it is marked known_gap, and a known gap must still be wrong. The issue's figures
 * over all cases, gaps included (its bar: no bad accepted, at least 90% of good accepted), are printed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTask, type ChatRequestBody } from '../../../bench/simulated-sglang/role-model.ts';
import { fieldQuestionTypes, isFocusField } from '../../../orchestrator/src/core/profiles/plan.ts';
import { verifyOutput } from '../../../orchestrator/src/core/run/generation-run.ts';
import { readJsonl, runCli } from '../../support/run-cli.ts';
import { answerCorpus, categoryTable, corpusProfile, corpusSlot, score, summary, type CorpusCase, type Scored } from './answer-corpus.ts';

/** The verdict verifyOutput gives a case for its slot, with no question accepted before it. */
function verifierOutcome(testCase: CorpusCase): string {
  const profile = corpusProfile(testCase.profile);
  const verdict = verifyOutput(JSON.stringify(testCase.output), profile, corpusSlot(testCase, profile), new Set());
  return verdict.ok ? 'accept' : verdict.reason;
}

const BAD_CATEGORIES = Object.keys(answerCorpus.categories).filter((name) => !name.startsWith('good_'));

describe('answer corpus (issue 18)', () => {
  it('covers every category of the issue with at least 45 bad and 25 good cases', () => {
    const bad = answerCorpus.cases.filter((c) => c.verdict === 'reject');
    const good = answerCorpus.cases.filter((c) => c.verdict === 'accept');
    expect(bad.length).toBeGreaterThanOrEqual(45);
    expect(good.length).toBeGreaterThanOrEqual(25);
    for (const category of Object.keys(answerCorpus.categories))
      expect(answerCorpus.cases.filter((c) => c.category === category).length, category).toBeGreaterThan(0);
    expect(BAD_CATEGORIES.every((name) => answerCorpus.categories[name]?.reasons.length)).toBe(true);
  });

  it('asks for slots a plan can make: an SBK focus field of the profile with a question type that suits it', () => {
    for (const testCase of answerCorpus.cases) {
      const profile = corpusProfile(testCase.profile);
      const { field, question_type: type } = testCase.slot;
      if (testCase.slot.kind === 'CM') continue;
      expect(field !== undefined && isFocusField(field, profile.fields[field] ?? ''), testCase.id).toBe(true);
      expect(fieldQuestionTypes(field ?? ''), testCase.id).toContain(type);
    }
  });

  it('verifier: every case gets its expected verdict outside the known gaps, which are listed', () => {
    const scored = answerCorpus.cases.map((testCase) => score(testCase, verifierOutcome(testCase)));
    const result = summary(scored);
    console.log(
      `answer corpus through the verifier:\n${categoryTable(scored)}\n${result.figures}\nknown gaps:\n${result.knownGaps.join('\n')}`,
    );
    expect(result.unexpected).toEqual([]);
    expect(result.badAccepted).toEqual([]);
  });
});

/** Where a case's slot lies: one slot per profile, kind and SBK focus field or CM topic in a run. */
function slotKey(testCase: CorpusCase): string {
  const { kind, field, topic, question_type: type } = testCase.slot;
  return `${testCase.profile}/${kind}/${field ?? topic ?? ''}/${type}`;
}

/**
 * Cases grouped into runs: a run's plan gives each focus field (and each CM topic) of a profile one slot,
 * so two cases for the same slot go to different runs.
 */
function runGroups(cases: readonly CorpusCase[]): CorpusCase[][] {
  const groups: CorpusCase[][] = [];
  for (const testCase of cases) {
    const group = groups.find((g) => !g.some((other) => slotKey(other) === slotKey(testCase)));
    if (group !== undefined) group.push(testCase);
    else groups.push([testCase]);
  }
  return groups;
}

/**
 * An OpenAI-compatible server that reads each request's task as a model would (the character, the kind,
 * the focus field or topic and the question type asked) and answers with the case written for that slot;
 * a slot no case is for gets an empty object, which the run rejects. `asked` maps a case to the slot id
 * its answer went to.
 */
async function caseServer(cases: readonly CorpusCase[]) {
  const names = new Map(Object.keys(answerCorpus.profiles).map((key) => [corpusProfile(key).name, key]));
  const idOf = new Map(Object.keys(answerCorpus.profiles).map((key) => [key, corpusProfile(key).id]));
  const asked = new Map<string, string>();
  const errors: string[] = [];
  const answer = (body: ChatRequestBody): string => {
    const task = readTask(body.messages?.map((message) => message.content).join('\n') ?? '');
    const profile = names.get(task.names[0] ?? '');
    const testCase = cases.find(
      (c) =>
        !asked.has(c.id) &&
        c.profile === profile &&
        c.slot.kind === task.kind &&
        c.slot.question_type === task.questionType &&
        (task.kind === 'SBK' ? c.slot.field === task.field : c.slot.topic === task.topic),
    );
    if (testCase === undefined) return '{}';
    asked.set(testCase.id, `${idOf.get(testCase.profile) ?? ''}/${task.kind}/${task.index}`);
    return JSON.stringify(testCase.output);
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = (status: number, body: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      if (request.method === 'GET') {
        reply(200, { object: 'list', data: [{ id: 'corpus-model', object: 'model', owned_by: 'test' }] });
        return;
      }
      // A request this server cannot read fails the test at once instead of hanging the run.
      let content: string;
      try {
        content = answer(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequestBody);
      } catch (error) {
        errors.push(String(error));
        reply(400, { error: { message: String(error) } });
        return;
      }
      reply(200, {
        id: 'chatcmpl-corpus',
        object: 'chat.completion',
        model: 'corpus-model',
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1000, completion_tokens: 200, total_tokens: 1200 },
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    asked,
    errors,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Focus fields of the largest corpus profile: every field gets its own SBK slot. */
const SBK_SLOTS = Math.max(...Object.keys(answerCorpus.profiles).map((key) => Object.keys(corpusProfile(key).fields).length));
/** Every CM topic once. */
const CM_SLOTS = 8;

describe('answer corpus through raiden generate', () => {
  it('every case gets its expected verdict through the run, the same one the verifier gives', async () => {
    const scored: Scored[] = [];
    const notAsked: string[] = [];
    const groups = runGroups(answerCorpus.cases);
    for (const group of groups) {
      const dir = mkdtempSync(join(tmpdir(), 'raiden-answer-corpus-'));
      const server = await caseServer(group);
      try {
        const keys = [...new Set(group.map((c) => c.profile))];
        const file = join(dir, 'profiles.json');
        writeFileSync(file, JSON.stringify(keys.map((key) => answerCorpus.profiles[key])));
        const out = join(dir, 'run');
        const result = await runCli([
          'generate',
          '--profiles',
          file,
          '--endpoint',
          server.url,
          '--out',
          out,
          '--no-cache',
          '--samples-per-profile',
          String(SBK_SLOTS),
          '--cm-per-profile',
          String(CM_SLOTS),
          '--max-attempts',
          '1',
          '--max-retries',
          '0',
          '--concurrency',
          '4',
        ]);
        expect(server.errors).toEqual([]);
        expect(result.stderr).not.toMatch(/unexpected|TypeError/u);
        const accepted = new Set(readJsonl<{ id: string }>(join(out, 'samples.jsonl')).map((sample) => sample.id));
        const rejected = new Map(
          readJsonl<{ slot_id: string; reason: string }>(join(out, 'rejects.jsonl')).map((r) => [r.slot_id, r.reason]),
        );
        for (const testCase of group) {
          const slot = server.asked.get(testCase.id);
          if (slot === undefined) notAsked.push(testCase.id);
          else scored.push(score(testCase, accepted.has(slot) ? 'accept' : (rejected.get(slot) ?? 'no verdict')));
        }
      } finally {
        await server.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const result = summary(scored);
    console.log(
      `answer corpus through raiden generate (${groups.length} runs):\n${categoryTable(scored)}\n${result.figures}\nknown gaps:\n${result.knownGaps.join('\n')}`,
    );
    expect(notAsked).toEqual([]);
    // The run judges each answer exactly as the verifier alone does.
    const differing = scored.filter((s) => s.got !== verifierOutcome(s.testCase)).map((s) => `${s.testCase.id}: ${s.got}`);
    expect(differing).toEqual([]);
    expect(result.unexpected).toEqual([]);
    expect(result.badAccepted).toEqual([]);
  }, 120_000);
});
