/**
 * The response cache and `raiden reverify` on a run directory, against the simulated SGLang server (real
 * HTTP; the server counts every call): a rerun into a new directory makes no call and yields the same
 * samples; after a rule change, reverify makes no call, and the fill calls the model only for the slots
 * that lost their sample; relaxing the rule again revives the rejected outputs without a call.
 *
 * The rule change: with `rules.strict`, a question that names nothing of the profile ("Can you tell me
 * about yourself?") is refused, the kind of rule the keyword-semantics work added.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import type * as KeywordVerifier from '../../orchestrator/src/core/verify/keyword-verifier.ts';
import { profileIdFromName } from '../../orchestrator/src/core/profiles/profile.ts';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { readJson, readJsonl, ROOT, runCli } from '../support/run-cli.ts';
import { generateThroughCache } from './generate-through-cache.ts';

const rules = vi.hoisted(() => ({ strict: false }));
const GENERIC = new Set(['Can you tell me about yourself?', '你能说说自己吗？']);

vi.mock('../../orchestrator/src/core/verify/keyword-verifier.ts', async (importOriginal) => {
  const real = await importOriginal<typeof KeywordVerifier>();
  return {
    ...real,
    verifySample: (value: unknown, context: Parameters<typeof real.verifySample>[1]) => {
      const verdict = real.verifySample(value, context);
      if (rules.strict && verdict.ok && GENERIC.has(verdict.content.question))
        return { ok: false, reason: 'question_generic', detail: 'the question names nothing of the profile: ask about the focused field' };
      return verdict;
    },
  };
});

const PROFILES = join(ROOT, 'examples/profiles.en.jsonl');
const NAMES = readFileSync(PROFILES, 'utf8')
  .trim()
  .split('\n')
  .map((line) => (JSON.parse(line) as { name: string }).name);
/** SBK/0 of the first two profiles: the model answers them with a generic question while `flawing`. */
const TARGETS = NAMES.slice(0, 2).map(profileIdFromName);
const taskOf = (body: { messages?: { content: string }[] }) =>
  /Task: write (\w+) sample number (\d+) for (.+)\./u.exec(body.messages?.at(-1)?.content ?? '');

let server: TestServer;
let flawing = false;
/** The slot (profile name, kind, number) of every chat request, in order. */
let asked: string[] = [];
const tempDir = () => mkdtempSync(join(tmpdir(), 'raiden-cache-run-'));

beforeAll(async () => {
  server = await startTestServer({
    fault: (_n, body) => {
      const task = taskOf(body);
      asked.push(task === null ? '?' : `${task[3]}/${task[1]}/${task[2]}`);
      return flawing && task !== null && task[1] === 'SBK' && task[2] === '1' && NAMES.slice(0, 2).includes(task[3] ?? '')
        ? 'duplicate'
        : undefined;
    },
  });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  rules.strict = false;
  flawing = false;
  asked = [];
});

/** A sample without what differs between two runs of it: when it was written and whether the cache gave it. */
const comparable = (sample: Sample) => {
  const { generated_at: _at, cached: _cached, ...metadata } = sample.metadata;
  return { ...sample, metadata };
};
const calls = () => server.stats.chatRequests;

async function firstRun(cacheDir: string) {
  flawing = true;
  const out = tempDir();
  const run = await generateThroughCache({
    profiles: PROFILES,
    endpoint: server.url,
    out,
    cacheDir,
    spec: { samplesPerProfile: 2, concurrency: 2 },
  });
  flawing = false;
  return { out, run };
}

describe('a rerun through the response cache', () => {
  it('into a new run directory makes 0 backend calls and yields the same samples; the report counts the hits and what they saved', async () => {
    const cacheDir = tempDir();
    const { out, run } = await firstRun(cacheDir);
    expect(run.report.status).toBe('complete');
    expect(run.report.cache).toMatchObject({ hits: 0, usd_saved: 0 });
    const paid = calls();
    expect(paid).toBeGreaterThanOrEqual(6);

    const again = tempDir();
    const rerun = await generateThroughCache({
      profiles: PROFILES,
      endpoint: server.url,
      out: again,
      cacheDir,
      spec: { samplesPerProfile: 2, concurrency: 2 },
    });
    expect(calls()).toBe(paid);
    expect(rerun.requests).toBe(0);
    const before = readJsonl<Sample>(join(out, 'samples.jsonl'));
    const after = readJsonl<Sample>(join(again, 'samples.jsonl'));
    expect(after.map(comparable).sort((a, b) => a.id.localeCompare(b.id))).toEqual(
      before.map(comparable).sort((a, b) => a.id.localeCompare(b.id)),
    );
    expect(after.every((sample) => sample.metadata.cached === true)).toBe(true);

    const report = rerun.report;
    expect(report.requests.this_invocation).toBe(0);
    expect(report.tokens.this_invocation).toEqual({ input: 0, output: 0 });
    const tokens = before.reduce((sum, sample) => sum + sample.metadata.usage.output_tokens, 0);
    expect(report.cache).toMatchObject({ hits: 6 + rerun.dataset.rejects, output_tokens_saved: tokens });
    expect(report.cache.usd_saved).toBeGreaterThan(0);
    expect(report.cache.by_model['sglang:test-model']).toMatchObject({ hits: 6 + rerun.dataset.rejects });
    // A cached answer was paid for by the first run, not this one: no tokens are billed here.
    expect(report.backends.sglang).toMatchObject({ samples: 6, input_tokens: 0, output_tokens: 0 });
  });

  it('with --no-cache (no cache given), every request goes to the model', async () => {
    const { out } = await firstRun(tempDir());
    const paid = calls();
    await generateThroughCache({ profiles: PROFILES, endpoint: server.url, out: tempDir(), spec: { samplesPerProfile: 2 } });
    expect(calls() - paid).toBe(readJsonl(join(out, 'samples.jsonl')).length + readJsonl(join(out, 'rejects.jsonl')).length);
  });
});

describe('raiden reverify on a run directory', () => {
  it('after a rule change: 0 calls to re-verify; the fill calls the model only for the slots that lost their sample', async () => {
    const cacheDir = tempDir();
    const { out } = await firstRun(cacheDir);
    const generic = readJsonl<Sample>(join(out, 'samples.jsonl')).filter((sample) => GENERIC.has(sample.question));
    expect(generic.map((sample) => sample.id).sort()).toEqual(TARGETS.map((id) => `${id}/SBK/0`).sort());

    rules.strict = true;
    const paid = calls();
    const checked = await runCli(['reverify', '--run', out, '--cache-dir', cacheDir, '--no-fill']);
    expect(checked.stderr).not.toMatch(/unexpected/u);
    expect(checked.code).toBe(3);
    expect(calls()).toBe(paid);
    expect(checked.stdout).toMatch(/dropped\s+2/u);
    const samples = readJsonl<Sample>(join(out, 'samples.jsonl'));
    expect(samples).toHaveLength(4);
    const rejects = readJsonl<RejectRecord>(join(out, 'rejects.jsonl'));
    const dropped = rejects.filter((reject) => reject.reason === 'question_generic');
    expect(dropped.map((reject) => reject.slot_id).sort()).toEqual(generic.map((sample) => sample.id).sort());
    // The whole answer stays in the run, so a later reverify can judge it again.
    expect(JSON.parse(dropped[0]?.raw_output ?? '')).toMatchObject({ question: expect.any(String), keywords: expect.any(Array) });
    const report = readJson<Record<string, any>>(join(out, 'report.json')); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(report).toMatchObject({
      status: 'incomplete',
      samples: { accepted: 4, empty_slots: 2 },
      requests: { this_invocation: 0 },
      reverify: { samples: { checked: 6, kept: 4, dropped: 2, dropped_by_reason: { question_generic: 2 } }, slots_without_sample: 2 },
    });
    const split = [...readJson<Sample[]>(join(out, 'train.json')), ...readJson<Sample[]>(join(out, 'validation.json'))];
    expect(split.map((sample) => sample.id).sort()).toEqual(samples.map((sample) => sample.id).sort());

    asked = [];
    const filled = await runCli(['reverify', '--run', out, '--cache-dir', cacheDir, '--endpoint', server.url]);
    expect(filled.stderr).not.toMatch(/unexpected/u);
    expect(filled.code).toBe(0);
    // One new answer per lost slot (its next attempt, which the cache has never seen); no other slot is asked.
    expect(asked.sort()).toEqual(
      NAMES.slice(0, 2)
        .map((name) => `${name}/SBK/1`)
        .sort(),
    );
    const after = readJsonl<Sample>(join(out, 'samples.jsonl'));
    expect(after).toHaveLength(6);
    expect(after.filter((sample) => GENERIC.has(sample.question))).toEqual([]);
    expect(after.filter((sample) => generic.some((lost) => lost.id === sample.id)).map((sample) => sample.metadata.attempt)).toEqual([
      2, 2,
    ]);
    expect(readJson<Record<string, unknown>>(join(out, 'report.json'))).toMatchObject({
      status: 'complete',
      samples: { accepted: 6, accepted_this_invocation: 2, already_done_before: 4 },
      requests: { this_invocation: 2 },
      reverify: { filled: 2, samples: { dropped: 0 }, slots_without_sample: 2 },
    });
  });

  it('a rule relaxed again revives the rejected outputs as samples, with no call', async () => {
    const cacheDir = tempDir();
    const { out } = await firstRun(cacheDir);
    const original = readJsonl<Sample>(join(out, 'samples.jsonl'));
    rules.strict = true;
    expect((await runCli(['reverify', '--run', out, '--cache-dir', cacheDir, '--no-fill'])).code).toBe(3);
    rules.strict = false;
    const paid = calls();
    const revived = await runCli(['reverify', '--run', out, '--cache-dir', cacheDir]);
    expect(revived.code).toBe(0);
    expect(calls()).toBe(paid);
    const samples = readJsonl<Sample>(join(out, 'samples.jsonl'));
    expect(samples.map((sample) => [sample.id, sample.question]).sort()).toEqual(
      original.map((sample) => [sample.id, sample.question]).sort(),
    );
    expect(samples.filter((sample) => sample.metadata.revived_by_reverify === true)).toHaveLength(2);
    expect(readJson<Record<string, unknown>>(join(out, 'report.json'))).toMatchObject({
      status: 'complete',
      reverify: { rejects: { revived: 2 }, slots_without_sample: 0 },
    });
    expect(readJsonl<RejectRecord>(join(out, 'rejects.jsonl')).filter((reject) => reject.reason === 'question_generic')).toEqual([]);
  });

  it('refuses a directory that is not a run, and a run whose profile file changed', async () => {
    const empty = await runCli(['reverify', '--run', tempDir()]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/holds no run\.json: pass the run directory of raiden generate/u);

    const { out } = await firstRun(tempDir());
    const other = join(tempDir(), 'profiles.en.jsonl');
    writeFileSync(other, readFileSync(PROFILES, 'utf8').replace('lighthouse', 'windmill'));
    const moved = await runCli(['reverify', '--run', out, '--profiles', other, '--no-cache']);
    expect(moved.code).toBe(2);
    expect(moved.stderr).toMatch(/different profiles file/u);
  });
});
