import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileChunks } from '../../orchestrator/src/store/file-chunks.ts';

const dir = mkdtempSync(join(tmpdir(), 'raiden-file-chunks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fileChunks', () => {
  it('reads the whole file again at each call, in chunks of at most 1 MiB', async () => {
    const path = join(dir, 'big.jsonl');
    const content = Buffer.alloc(2.5 * 2 ** 20, 'abc\n');
    writeFileSync(path, content);
    const chunks = await fileChunks(path);
    for (let pass = 0; pass < 2; pass++) {
      const read = [...chunks()];
      expect(read.map((chunk) => chunk.length)).toEqual([2 ** 20, 2 ** 20, 2 ** 19]);
      expect(Buffer.concat(read).equals(content)).toBe(true);
    }
  });

  it('fails at once with the code of a missing file or a directory', async () => {
    await expect(fileChunks(join(dir, 'missing.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fileChunks(dir)).rejects.toMatchObject({ code: 'EISDIR', message: `${dir} is not a file` });
  });
});
