import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseProfiles } from '../../../orchestrator/src/core/profiles/profile-loader.ts';
import { ProfileFormatError } from '../../../orchestrator/src/core/profiles/profile-formats.ts';
import { MAX_PROFILE_CHARS } from '../../../orchestrator/src/core/profiles/profile.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const SHARED = new URL('../../fixtures/charactereval_profiles.json', import.meta.url);

describe('profile formats', () => {
  it('reads the CharacterEval file: 78 profiles keyed by name, all Chinese', () => {
    const loaded = parseProfiles(readFileSync(SHARED), 'charactereval_profiles.json');
    expect(loaded.format).toBe('charactereval');
    expect(loaded.profiles).toHaveLength(78);
    expect(loaded.rejected).toEqual([]);
    const laomo = loaded.profiles.find((p) => p.id === '老默');
    expect(laomo?.name).toBe('老默');
    expect(laomo?.aliases).toContain('陈金默');
    expect(laomo?.language).toBe('zh');
    expect(laomo?.text).toContain('人物经历: 陈金默原为鱼贩子兼杀手');
  });

  it('reads RAIDEN-R1 JSONL prompts from the <Character Setting> block', () => {
    const loaded = parseProfiles(readFileSync(new URL('../../../examples/raiden-r1.jsonl', import.meta.url)), 'raiden-r1.jsonl');
    expect(loaded.format).toBe('raiden-jsonl');
    expect(loaded.profiles.map((p) => p.name)).toEqual(['Captain Ilse Varga', '陆知遥']);
    expect(loaded.profiles[0]?.fields).toMatchObject({ Gender: 'Female' });
    expect(loaded.profiles[0]?.fields['Detailed Description']).toContain('brass prosthetic');
    expect(loaded.profiles[1]?.language).toBe('zh');
  });

  it('reads RAIDEN npc.json settings line by line', () => {
    const loaded = parseProfiles(readFileSync(new URL('../../../examples/npc.json', import.meta.url)), 'npc.json');
    expect(loaded.format).toBe('npc-json');
    const ayue = loaded.profiles.find((p) => p.name === '阿月');
    expect(ayue?.fields).toMatchObject({ 身份: '云来客栈老板娘', 年龄: '35', npc_type: '客栈老板娘' });
    expect(loaded.profiles.find((p) => p.name === 'Brother Anselm')?.language).toBe('en');
  });

  it('reads generic JSONL and JSON arrays, flattening arrays and nested objects', () => {
    const jsonl = parseProfiles(readFileSync(new URL('../../../examples/profiles.en.jsonl', import.meta.url)), 'profiles.en.jsonl');
    expect(jsonl.format).toBe('generic');
    expect(jsonl.profiles).toHaveLength(3);
    const mara = jsonl.profiles[0];
    expect(mara?.fields.hobbies).toBe('carving driftwood birds, reading sea charts, brewing nettle tea');
    expect(mara?.fields.family).toContain('brother: Tobias Quill');
    expect(mara?.fields.age).toBe('34');
    const array = parseProfiles(
      bytes(
        JSON.stringify([
          { 姓名: '小明', 爱好: '足球' },
          { character_name: 'Ann', bio: 'a baker' },
        ]),
      ),
      'a.json',
    );
    expect(array.profiles.map((p) => p.id)).toEqual(['小明', 'Ann']);
  });

  it('honours --format over detection', () => {
    const text = JSON.stringify({ name: 'Solo', bio: 'one object' });
    expect(parseProfiles(bytes(text), 'solo.json').profiles).toHaveLength(1);
    expect(() => parseProfiles(bytes('{"a":{"npc_setting":"姓名: x"}}\n'), 'x.json', 'raiden-jsonl')).not.toThrow();
  });
});

describe('bad profile input is reported, never fatal', () => {
  it('reports a malformed JSONL line with its line number and keeps the rest', () => {
    const text = ['{"name": "Ann", "bio": "baker"}', '{"name": "Bob", bio', '', '{"name": "Cy", "bio": "smith"}'].join('\n');
    const loaded = parseProfiles(bytes(text), 'roles.jsonl');
    expect(loaded.profiles.map((p) => p.name)).toEqual(['Ann', 'Cy']);
    expect(loaded.rejected).toEqual([{ location: 'roles.jsonl:2', reason: expect.stringMatching(/^malformed JSON line/) }]);
  });

  it('rejects an unknown format with a message naming the formats and --format', () => {
    expect(() => parseProfiles(bytes('name,bio\nAnn,baker\n'), 'roles.csv')).toThrow(ProfileFormatError);
    expect(() => parseProfiles(bytes('name,bio\nAnn,baker\n'), 'roles.csv')).toThrow(/unknown profile format.*\{format\}/);
    expect(() => parseProfiles(bytes('[{"name": "x"'), 'broken.json')).toThrow(/not valid JSON/);
  });

  it('reads a pretty-printed JSON file with one syntax error as one document, naming the line and column', () => {
    const entries = Array.from({ length: 35 }, (_, index) => `  "Character ${index}": {\n    "bio": "a baker"\n  },`);
    const trailingComma = `{\n${entries.join('\n')}\n}\n`;
    expect(() => parseProfiles(bytes(trailingComma), 'cast.json')).toThrow(ProfileFormatError);
    expect(() => parseProfiles(bytes(trailingComma), 'cast.json')).toThrow(
      /^cast\.json is not valid JSON \(line 107 column 1: Expected double-quoted property name\): fix the syntax there/,
    );
    const unquoted = '[\n  {"name": "Ann",\n   "bio": baker}\n]';
    expect(() => parseProfiles(bytes(unquoted), 'a.json')).toThrow(/line 3 column 11: Unexpected token 'b'\)/);
    const truncated = '{\n  "name": "Ann",\n  "bio": "baker"\n';
    expect(() => parseProfiles(bytes(truncated), 'b.json')).toThrow(/line 4 column 1: Expected ',' or '}' after property value\)/);
  });

  it('rejects profiles with no name, no usable text, or a duplicate name', () => {
    const text = [
      '{"bio": "nameless"}',
      '{"name": "Empty"}',
      '{"name": "Ann", "bio": "baker"}',
      '{"name": "Ann", "bio": "another baker"}',
      '[1, 2]',
    ].join('\n');
    const loaded = parseProfiles(bytes(text), 'r.jsonl');
    expect(loaded.profiles.map((p) => p.name)).toEqual(['Ann']);
    const reasons = Object.fromEntries(loaded.rejected.map((r) => [r.location, r.reason]));
    expect(reasons['r.jsonl:1']).toMatch(/no character name/);
    expect(reasons['r.jsonl:2']).toMatch(/no usable text/);
    expect(reasons['r.jsonl:4']).toMatch(/duplicate character name "Ann" \(first seen at r\.jsonl:3\)/);
    expect(reasons['r.jsonl:5']).toMatch(/expected a JSON object/);
  });

  it('rejects only the record holding bytes that are not UTF-8', () => {
    const good = bytes('{"name": "Ann", "bio": "baker"}\n');
    const bad = new Uint8Array([...bytes('{"name": "Bob", "bio": "'), 0xff, 0xfe, ...bytes('"}\n')]);
    const loaded = parseProfiles(new Uint8Array([...good, ...bad]), 'mixed.jsonl');
    expect(loaded.profiles.map((p) => p.name)).toEqual(['Ann']);
    expect(loaded.rejected).toEqual([{ location: 'mixed.jsonl:2', reason: expect.stringMatching(/not valid UTF-8/) }]);
  });

  it('rejects a 5 MB profile with its size and the limit, keeping the others', () => {
    const huge = JSON.stringify({ name: 'Huge', bio: 'x'.repeat(5 * 1024 * 1024) });
    const loaded = parseProfiles(bytes(`${huge}\n{"name": "Ann", "bio": "baker"}\n`), 'big.jsonl');
    expect(loaded.profiles.map((p) => p.name)).toEqual(['Ann']);
    expect(loaded.rejected[0]?.reason).toMatch(
      new RegExp(`5,242,\\d{3} characters; the limit is ${MAX_PROFILE_CHARS.toLocaleString('en-US')}`),
    );
  });
});
