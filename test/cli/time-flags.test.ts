import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRunSpec, TIME_LIMITS } from '../../orchestrator/src/core/run/run-spec.ts';
import { runCli } from '../support/run-cli.ts';

// Node fires a timer longer than 2^31-1 ms after 1 ms: a flag past that would abandon every request at once.
const OVERFLOWING_SECONDS = String(Math.ceil((2 ** 31 - 1) / 1000) + 1);

describe('time flags are bounded below what a Node timer holds', () => {
  it.each([
    [['generate', '--profiles', 'examples/npc.json', '--request-timeout', OVERFLOWING_SECONDS], '--request-timeout'],
    [['generate', '--profiles', 'examples/npc.json', '--request-timeout', '0'], '--request-timeout'],
    [
      [
        'generate',
        ...['--profiles', 'examples/npc.json', '--strategy', 'bedrock', '--dry-run', '--out', join(tmpdir(), 'raiden-never-written')],
        ...['--bedrock-batch', 's3://my-bucket/batch', '--bedrock-batch-role', 'arn:aws:iam::123456789012:role/batch'],
        ...['--bedrock-batch-poll-seconds', '3000000'],
      ],
      '--bedrock-batch-poll-seconds',
    ],
    [['status', '--interval', '3000000'], '--interval'],
    [['start', '--profiles', 'examples/npc.json', '--readiness-timeout', '50000'], '--readiness-timeout'],
  ])('%j is refused with exit 2, naming the flag', async (args, flag) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(flag);
  });

  it('a plan holding a request timeout past the bound is refused too (reverify reads the spec from plan.json)', () => {
    expect(() => parseRunSpec({ profiles: 'p.json', requestTimeoutSeconds: TIME_LIMITS.requestTimeoutSeconds + 1 })).toThrow();
    expect(parseRunSpec({ profiles: 'p.json', requestTimeoutSeconds: TIME_LIMITS.requestTimeoutSeconds }).requestTimeoutSeconds).toBe(
      TIME_LIMITS.requestTimeoutSeconds,
    );
  });
});
