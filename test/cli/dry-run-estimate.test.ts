/** The dry run prices the plan as its strategy will run it, with the price table and --price-file the report uses. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/run-cli.ts';

const dryRun = (...flags: string[]) =>
  runCli(['generate', '--profiles', 'examples/npc.json', '--dry-run', '--out', mkdtempSync(join(tmpdir(), 'raiden-dry-')), ...flags]);
const total = (stdout: string) => Number(/^total\s+\$([\d.]+)/mu.exec(stdout)?.[1]);
const row = (stdout: string, label: string) => stdout.split('\n').find((line) => line.startsWith(label)) ?? '';

describe('the dry run estimate', () => {
  it('follows the strategy: filter pays for k candidates and a judge call per candidate', async () => {
    const plain = await dryRun();
    const filter = await dryRun('--strategy', 'filter', '--candidates', '3');
    expect(row(plain.stdout, 'SGLang')).toMatch(/4 slots\s+4\s/u);
    expect(row(filter.stdout, 'SGLang')).toMatch(/4 slots x 3 candidates\s+12\s/u);
    expect(row(filter.stdout, 'Bedrock (Claude Sonnet)')).toMatch(/3 judge call\(s\) per slot\s+12\s/u);
    expect(total(filter.stdout)).toBeGreaterThan(total(plain.stdout));
    expect(filter.stdout).toMatch(/Strategy filter: /u);
  });

  it('follows the strategy: tiered writes the validation profiles on Bedrock, iterative its seeds and an evaluation', async () => {
    const tiered = await dryRun('--strategy', 'tiered', '--validation-profiles', '1');
    expect(row(tiered.stdout, 'Bedrock (Claude Sonnet)')).toMatch(/2 slots\s+2\s/u);
    expect(row(tiered.stdout, 'SGLang')).toMatch(/2 slots\s+2\s/u);
    const iterative = await dryRun('--strategy', 'iterative', '--seed-profiles', '1', '--evaluate-samples', '2');
    expect(row(iterative.stdout, 'Bedrock (Claude Sonnet)')).toMatch(/2 slots, evaluation of 2 samples\s+4\s/u);
    const bedrock = await dryRun('--strategy', 'bedrock');
    expect(row(bedrock.stdout, 'SGLang')).toBe('');
  });

  it('uses --price-file as the report does, and says so', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'raiden-prices-')), 'prices.json');
    writeFileSync(
      file,
      JSON.stringify({
        as_of: '2026-02-01',
        gpu_usd_per_hour: 1000,
        bedrock: { 'anthropic.claude-sonnet-4-5': { inputUsdPerMTok: 300, outputUsdPerMTok: 1500 } },
      }),
    );
    const priced = await dryRun('--strategy', 'tiered', '--validation-profiles', '1', '--price-file', file);
    expect(priced.code).toBe(0);
    expect(priced.stdout).toMatch(/\$300\/\$1500 per M input\/output tokens/u);
    expect(priced.stdout).toMatch(/SGLang: \$1000\/h/u);
    expect(priced.stdout).toMatch(/prices as of 2026-02-01/u);
    const plain = await dryRun('--strategy', 'tiered', '--validation-profiles', '1');
    expect(total(priced.stdout)).toBeGreaterThan(total(plain.stdout) * 50);
  });

  it('refuses a missing or invalid price file, as a real run would', async () => {
    const missing = await dryRun('--price-file', '/no/such/prices.json');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read --price-file \/no\/such\/prices\.json: no such file/u);
    const file = join(mkdtempSync(join(tmpdir(), 'raiden-prices-')), 'prices.json');
    writeFileSync(file, '{"bedrock": {"x": {"inputUsdPerMTok": "cheap"}}}');
    expect((await dryRun('--price-file', file)).code).toBe(2);
  });
});
