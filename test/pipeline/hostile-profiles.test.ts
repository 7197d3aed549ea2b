/** Names and records that would break a file name, an S3 key or the stack never stop the other profiles. */
import { describe, expect, it } from 'vitest';
import { parseProfiles } from '../../orchestrator/src/core/profiles/profile-loader.ts';
import { MAX_PROFILE_DEPTH, profileIdFromName } from '../../orchestrator/src/core/profiles/profile.ts';
import { objectKeyOf } from '../../orchestrator/src/store/s3-run-store.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const line = (record: unknown) => JSON.stringify(record);

describe('profile ids', () => {
  it.each([
    ['..', ''],
    ['.', ''],
    ['.hidden', 'hidden'],
    ['a/../b', 'a_.._b'],
    ['Ann\u0000Lee', 'AnnLee'],
    ['Ann\u001b[31mLee', 'Ann[31mLee'],
    ['Zoë  Smith', 'Zoë_Smith'],
    ['林晚舟', '林晚舟'],
  ])('%j becomes %j', (name, id) => {
    expect(profileIdFromName(name)).toBe(id);
  });

  it('makes a lone surrogate well-formed, so the id is a valid S3 key segment', () => {
    const id = profileIdFromName('Ann\uD800Lee');
    expect(id.isWellFormed()).toBe(true);
    expect(() => objectKeyOf(`${id}/SBK/0`)).not.toThrow();
  });

  it('cuts a very long name with a hash of the whole, so two long names stay apart', () => {
    const a = profileIdFromName(`${'长'.repeat(200)}甲`);
    const b = profileIdFromName(`${'长'.repeat(200)}乙`);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(96);
    expect(a).not.toBe(b);
  });

  it('rejects a name with no usable character, with its location, and keeps the others', () => {
    const loaded = parseProfiles(
      bytes([line({ name: '..', bio: 'x y' }), line({ name: 'Ann', bio: 'a baker in Tallinn' })].join('\n')),
      'p.jsonl',
    );
    expect(loaded.profiles.map((p) => p.id)).toEqual(['Ann']);
    expect(loaded.rejected).toEqual([{ location: 'p.jsonl:1', reason: expect.stringMatching(/has no usable characters/u) }]);
  });
});

describe('deep records', () => {
  const deep = (levels: number): unknown => {
    let value: unknown = 'bottom';
    for (let i = 0; i < levels; i++) value = { inner: value };
    return value;
  };

  it('rejects a record nested 2,000 levels deep with its location, and keeps the rest of the file', () => {
    const text = [line({ name: 'Deep', bio: deep(2000) }), line({ name: 'Ann', bio: 'a baker in Tallinn' })].join('\n');
    const loaded = parseProfiles(bytes(text), 'p.jsonl');
    expect(loaded.profiles.map((p) => p.name)).toEqual(['Ann']);
    expect(loaded.rejected).toEqual([
      { location: 'p.jsonl:1', reason: `nested deeper than ${MAX_PROFILE_DEPTH} levels: flatten the record` },
    ]);
  });

  it('does the same in a JSON document of profiles', () => {
    const text = JSON.stringify({ Deep: { bio: deep(2000) }, Ann: { bio: 'a baker in Tallinn' } });
    const loaded = parseProfiles(bytes(text), 'p.json', 'charactereval');
    expect(loaded.profiles.map((p) => p.name)).toEqual(['Ann']);
    expect(loaded.rejected[0]?.location).toBe('p.json key "Deep"');
  });

  it('still reads nesting within the limit', () => {
    const loaded = parseProfiles(bytes(line({ name: 'Ann', bio: deep(MAX_PROFILE_DEPTH - 2) })), 'p.jsonl');
    expect(loaded.profiles).toHaveLength(1);
  });
});
