/**
 * One of several processes sharing a cache directory (multi-process.test.ts): stores its entries, some
 * under keys every process also stores, reading each back at once, and prints what it saw as JSON.
 */
import { createHash } from 'node:crypto';
import { LocalResponseCache } from '../../orchestrator/src/store/local-response-cache.ts';

const [directory = '', writer = '0', count = '0', shared = '0', maxBytes = '0'] = process.argv.slice(2);
const cache = await LocalResponseCache.open(directory, { maxBytes: Number(maxBytes) });
const keyOf = (name: string) => createHash('sha256').update(name).digest('hex');
let torn = 0;
const keys: string[] = [];
for (let n = 0; n < Number(count); n++) {
  const key = keyOf(n < Number(shared) ? `shared-${n}` : `writer-${writer}-${n}`);
  // Long enough that a torn write would show: the text repeats its key and ends with a marker.
  const text = `${key}|${writer}|${'x'.repeat(2000 + n)}|end`;
  await cache.put(key, { text, model: 'qwen', usage: { inputTokens: n, outputTokens: 1 } });
  keys.push(key);
  const read = await cache.get(key);
  // Evicted meanwhile by a sweep is allowed; a read entry must be someone's whole entry for this key.
  if (read !== undefined && !(read.text.startsWith(`${key}|`) && read.text.endsWith('|end'))) torn++;
}
process.stdout.write(`${JSON.stringify({ keys, torn })}\n`);
