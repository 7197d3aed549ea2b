import { describe, expect, it } from 'vitest';
import { planSlots } from '../../../orchestrator/src/core/profiles/plan.ts';
import { jsonLinesFormat } from '../../../orchestrator/src/core/profiles/profile-formats.ts';
import { parseProfiles } from '../../../orchestrator/src/core/profiles/profile-loader.ts';
import { excludeCharacters, prepareRun } from '../../../orchestrator/src/core/run/prepare-run.ts';
import { parseRunSpec } from '../../../orchestrator/src/core/run/run-spec.ts';

const encoder = new TextEncoder();
const line = (record: unknown) => JSON.stringify(record);
const person = (name: string, extra: Record<string, unknown> = {}) =>
  line({ name, occupation: `${name} keeps the lighthouse`, hometown: 'Ashford', ...extra });

/** A JSONL file with everything a reader can meet: a BOM, CRLF, blank lines and each kind of refused record. */
function messyJsonl(): Uint8Array {
  const text = [
    `\uFEFF${person('Ada')}`,
    person('Bo', { nickname: 'Bobby' }),
    '',
    '{"name": "Broken",',
    line({ occupation: 'nameless' }),
    `${person('Cy')}\r`,
    person('Ada'),
    person('Evaluated'),
    '   ',
    person('Di', { history: '中文的经历和背景故事' }),
  ].join('\n');
  const bytes = encoder.encode(`${text}\n${person('Ed')}\n`);
  // One line with a byte that is not UTF-8: refused on its own.
  const bad = encoder.encode(`${person('Fay')}\n`);
  bad[10] = 0xff;
  const out = new Uint8Array(bytes.length + bad.length);
  out.set(bytes);
  out.set(bad, bytes.length);
  return out;
}

const spec = (overrides: Record<string, unknown> = {}) =>
  parseRunSpec({ profiles: 'people.jsonl', endpoints: ['http://127.0.0.1:1'], includeCm: true, ...overrides });

describe('prepareRun reads a JSONL file a line at a time', () => {
  it('tells JSONL from a JSON document by the head of the file', () => {
    const bytes = (text: string) => encoder.encode(text);
    expect(jsonLinesFormat(bytes(`${person('A')}\n${person('B')}\n`))).toBe('generic');
    expect(jsonLinesFormat(bytes(`${line({ prompt: '<Character Setting>Name: A</Character Setting>' })}\n{}\n`))).toBe('raiden-jsonl');
    expect(jsonLinesFormat(bytes(`${person('A')}\n`)), 'one line is one JSON document').toBeUndefined();
    expect(jsonLinesFormat(bytes('[\n{"name": "A"}\n]\n'))).toBeUndefined();
    expect(jsonLinesFormat(bytes('{\n  "A": {"name": "A"}\n}\n'))).toBeUndefined();
    expect(jsonLinesFormat(bytes(`${person('A')}\n${person('B')}\n`), 'charactereval')).toBeUndefined();
    expect(jsonLinesFormat(bytes(`${person('A')}\n${person('B')}\n`), 'raiden-jsonl')).toBe('raiden-jsonl');
  });

  it('plans exactly what reading the whole file plans: profiles, slots, rejections in order, estimate', () => {
    const bytes = messyJsonl();
    const runSpec = spec({ excludeNames: ['evaluated'] });
    const prepared = prepareRun(runSpec, { bytes, location: 'people.jsonl' }, { startedAt: new Date(0) });
    const whole = excludeCharacters(parseProfiles(bytes, 'people.jsonl'), ['evaluated']);
    const settings = { samplesPerProfile: runSpec.samplesPerProfile, cmPerProfile: 1, language: 'auto' as const, seed: runSpec.seed };

    expect(prepared.plan.input).toEqual({ file: 'people.jsonl', format: 'generic', usable: 5, rejected: whole.rejected });
    expect(whole.rejected.map((rejection) => rejection.location)).toEqual([
      'people.jsonl:4',
      'people.jsonl:5',
      'people.jsonl:7',
      'people.jsonl:12',
      'people.jsonl:8',
    ]);
    expect(prepared.plan.profileIds).toEqual(['Ada', 'Bo', 'Cy', 'Di', 'Ed']);
    expect([...prepared.profiles.values()]).toEqual(whole.profiles);
    expect(prepared.slots).toEqual(planSlots(whole.profiles, settings));
    expect([...prepared.plannedSlots()].map(({ slot }) => slot)).toEqual(prepared.slots);
    expect([...prepared.slotIds()], 'the slot ids from the profile ids alone').toEqual(prepared.slots.map((slot) => slot.id));
    expect(prepared.plan.slots).toEqual({ total: 15, sbk: 10, cm: 5 });
    expect(prepared.slotsOn).toEqual({ sglang: 15, bedrock: 0 });

    // The same profiles as one JSON document take the whole-file path and give the same estimate.
    const asArray = encoder.encode(JSON.stringify(whole.profiles.map((profile) => ({ ...profile.fields, name: profile.name }))));
    const documented = prepareRun(runSpec, { bytes: asArray, location: 'people.json' }, { startedAt: new Date(0) });
    expect(documented.plan.estimate).toEqual(prepared.plan.estimate);
  });

  it('reads the file in chunks of any size the same, a line or a character cut at a chunk end included', () => {
    const bytes = messyJsonl();
    const runSpec = spec({ excludeNames: ['evaluated'] });
    const whole = prepareRun(runSpec, { bytes, location: 'people.jsonl' }, { startedAt: new Date(0) });
    let passes = 0;
    const chunked = prepareRun(
      runSpec,
      {
        bytes: function* () {
          passes++;
          for (let at = 0; at < bytes.length; at += 7) yield bytes.slice(at, at + 7);
        },
        location: 'people.jsonl',
      },
      { startedAt: new Date(0) },
    );
    expect(passes, 'the head, the digest and one pass over the profiles: so few are kept for the estimate').toBe(3);
    expect(chunked.plan).toEqual(whole.plan);
    expect(chunked.manifest).toEqual(whole.manifest);
    expect(chunked.slots).toEqual(whole.slots);
    expect([...chunked.profiles.values()]).toEqual([...whole.profiles.values()]);
    expect(passes, 'the kept profiles are let go with prepareRun: the slots and the profiles read the file again').toBe(5);
  });

  it('reads a large input again at each pass, making only the records the first read found usable', () => {
    const bytes = messyJsonl();
    const runSpec = spec({ excludeNames: ['evaluated'] });
    const kept = prepareRun(runSpec, { bytes, location: 'people.jsonl' }, { startedAt: new Date(0) });
    let passes = 0;
    const reread = prepareRun(
      runSpec,
      {
        bytes: function* () {
          passes++;
          yield bytes;
        },
        location: 'people.jsonl',
      },
      { startedAt: new Date(0), keepProfiles: 0 },
    );
    expect(passes, 'the head, the profiles, the digest, the estimate').toBe(4);
    expect(reread.plan).toEqual(kept.plan);
    expect([...reread.plannedSlots()]).toEqual([...kept.plannedSlots()]);
    expect(reread.slots).toEqual(kept.slots);
    expect([...reread.profiles.values()]).toEqual([...kept.profiles.values()]);
    expect(reread.plan.input.rejected).toEqual(kept.plan.input.rejected);
  });

  it('streams the planned slots with their profiles, maxProfiles and the backend split included', () => {
    const bytes = encoder.encode(`${['A', 'B', 'C', 'D', 'E', 'F'].map((name) => person(name)).join('\n')}\n`);
    const prepared = prepareRun(
      spec({ maxProfiles: 4, strategy: 'tiered', validationRatio: 0.5 }),
      { bytes, location: 'p.jsonl' },
      {
        startedAt: new Date(0),
      },
    );
    const planned = [...prepared.plannedSlots()];
    expect(planned.every(({ profile, slot }) => profile.id === slot.profileId)).toBe(true);
    expect(new Set(planned.map(({ profile }) => profile.id))).toEqual(new Set(['A', 'B', 'C', 'D']));
    expect(prepared.plan.input.usable).toBe(6);
    const onBedrock = planned.filter(({ profile }) => prepared.plan.assignment.otherBackend.includes(profile.id)).length;
    expect(prepared.slotsOn).toEqual({ sglang: planned.length - onBedrock, bedrock: onBedrock });
    expect(onBedrock).toBeGreaterThan(0);
  });
});
