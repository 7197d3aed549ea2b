import { closeSync, openSync, writeSync } from 'node:fs';
import { seededRandom } from '../../orchestrator/src/core/profiles/rng.ts';

const WORDS =
  'harbor lantern copper violin orchard glacier meadow falcon ember quartz willow saffron canyon marble thistle cobalt juniper tundra beacon saddle'.split(
    ' ',
  );
const TOWNS = ['Ashford', 'Brightwater', 'Coldharbour', 'Dunmore', 'Eastwick', 'Fernvale', 'Greyhollow', 'Hartfield'];

/**
 * Deterministic English profiles of realistic size (about 1,000 characters of text each, like the
 * CharacterEval profiles), so benchmark prompts are as long as real ones without shipping thousands of them;
 * made one at a time, so a file of a million profiles is written without holding them.
 */
export function* eachSyntheticProfile(count: number, seed = 1): Generator<Record<string, unknown>> {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  const sentence = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(' ');
  for (let i = 0; i < count; i++)
    yield {
      name: `Character ${String(i).padStart(5, '0')}`,
      gender: pick(['female', 'male']),
      age: 18 + Math.floor(random() * 60),
      occupation: `${pick(WORDS)} keeper of ${pick(TOWNS)}`,
      hometown: pick(TOWNS),
      hobbies: [`${pick(WORDS)} carving`, `collecting ${pick(WORDS)} stones`, `${pick(WORDS)} music`],
      relationships: `sister ${pick(WORDS)} ${pick(TOWNS)}, mentor ${pick(WORDS)} ${pick(TOWNS)}`,
      history: `${sentence(40)}. ${sentence(40)}. ${sentence(30)}.`,
      personality: `${pick(['calm', 'fiery', 'shy', 'bold'])}, ${pick(['curious', 'stubborn', 'loyal', 'witty'])}`,
    };
}

export function writeSyntheticProfiles(path: string, count: number, seed = 1): string {
  const fd = openSync(path, 'w');
  try {
    let buffer = '';
    for (const profile of eachSyntheticProfile(count, seed)) {
      buffer += `${JSON.stringify(profile)}\n`;
      if (buffer.length >= 1 << 20) {
        writeSync(fd, buffer);
        buffer = '';
      }
    }
    writeSync(fd, buffer);
  } finally {
    closeSync(fd);
  }
  return path;
}
