/**
 * `npm run bench [-- --quick] [-- --out FILE]`: drives the real generation pipeline against the simulated
 * SGLang server, prints every figure with its settings and target, and writes the figures: a full run to
 * BENCHMARKS.md, a quick run to a temporary file unless --out names one (its smaller runs are not the
 * figures of record). Exits 1 when a target is missed, so a script or CI notices.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { acceptRateRuns, acceptRateScenario, acceptRateSection, type AcceptRateRun } from './scenarios/accept-rate.ts';
import { bedrockThrottlingScenario } from './scenarios/bedrock-throttling.ts';
import { costPerSampleScenario } from './scenarios/cost-per-sample.ts';
import { faultsScenario } from './scenarios/faults.ts';
import { prefixReuseScenario } from './scenarios/prefix-reuse.ts';
import { responseCacheScenario } from './scenarios/response-cache.ts';
import { saturationRun, saturationScenarioFrom } from './scenarios/saturation.ts';
import { scaleMemoryScenario } from './scenarios/scale-memory.ts';
import type { BenchContext, ScenarioResult } from './support/scenario.ts';

const quick = process.argv.includes('--quick');
const outAt = process.argv.indexOf('--out');
const outFile =
  outAt >= 0 && process.argv[outAt + 1] !== undefined
    ? process.argv[outAt + 1]
    : quick
      ? join(mkdtempSync(join(tmpdir(), 'raiden-bench-quick-')), 'BENCHMARKS.md')
      : new URL('../BENCHMARKS.md', import.meta.url).pathname;
const context: BenchContext = { quick, workDir: mkdtempSync(join(tmpdir(), 'raiden-bench-')) };
// No scenario may read or write the user's response cache: one that wants a cache names its own directory.
process.env.RAIDEN_NO_CACHE = '1';
const started = Date.now();
const results: ScenarioResult[] = [];
let acceptRates: AcceptRateRun[] | undefined;
/** Scenarios with a section of their own in BENCHMARKS.md instead of rows in the main table. */
const sections: ScenarioResult[] = [];
const log = (text: string) => process.stderr.write(`bench: ${text}\n`);

try {
  log(`saturation (64 and 256 slots)${quick ? ', quick' : ''}`);
  const run64 = await saturationRun(context, 64);
  const run256 = await saturationRun(context, 256);
  results.push(saturationScenarioFrom(context, [run64, run256]));
  log('prefix reuse');
  results.push(await prefixReuseScenario(context));
  log('cost per sample');
  results.push(costPerSampleScenario(run64));
  log('scale and memory');
  results.push(await scaleMemoryScenario(context));
  log('faults');
  results.push(await faultsScenario(context, run64));
  log('bedrock throttling');
  results.push(await bedrockThrottlingScenario(context));
  log('accept rate per reject reason');
  acceptRates = await acceptRateRuns(context);
  results.push(acceptRateScenario(acceptRates));
  log('response cache');
  sections.push(await responseCacheScenario(context));
} finally {
  rmSync(context.workDir, { recursive: true, force: true });
}

const seconds = (Date.now() - started) / 1000;
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.version}, ${process.platform}`;
const rows = results.flatMap((result) => result.figures.map((figure) => ({ scenario: result.name, ...figure })));
const sectionRows = sections.flatMap((result) => result.figures);
const mark = (met: boolean | undefined) => (met === undefined ? '' : met ? 'met' : 'NOT met');

for (const result of [...results, ...sections]) {
  process.stdout.write(`\n${result.name}\n  settings: ${result.settings}\n`);
  for (const figure of result.figures) {
    process.stdout.write(
      `  ${figure.label.padEnd(88)} ${figure.value.padStart(12)}${figure.target ? `  target ${figure.target}: ${mark(figure.met)}` : ''}\n`,
    );
  }
}
const missed = [...rows, ...sectionRows].filter((row) => row.met === false);
process.stdout.write(
  `\n${missed.length === 0 ? 'All targets met' : `${missed.length} target(s) NOT met`} (${seconds.toFixed(0)} s, ${machine})\n`,
);

const markdown = [
  '# Benchmarks',
  '',
  'Written by `npm run bench`; every figure below was measured by that run. The harness drives the real',
  '`raiden generate` pipeline (in its own process) against the simulated SGLang server in',
  '`bench/simulated-sglang/` (in another process): decode slots with a FIFO queue beyond them, service time =',
  'prefill of the uncached prompt part + output tokens x per-token time with lognormal spread, and a bounded',
  'LRU radix prefix cache. Bedrock is simulated by `bench/simulated-bedrock/`, an HTTP/2 server the real AWS',
  'SDK talks to, with a token-bucket throttle. Time is scaled down about 50x from a real p5en so a run takes',
  'a minute; the figures are ratios, so they hold at real speed unless the orchestrator itself is the',
  'bottleneck, which is what they test. Reproduce with `npm run bench` (`npm run bench:quick` for a smaller run).',
  '',
  `- Date: ${new Date().toISOString().slice(0, 10)}`,
  `- Machine: ${machine}`,
  `- Mode: ${quick ? '`--quick` (smaller runs)' : 'full'}; total ${seconds.toFixed(0)} s`,
  '',
  '| scenario | figure | value | target | |',
  '|---|---|---:|---|---|',
  ...rows.map((row) => `| ${row.scenario} | ${row.label} | ${row.value} | ${row.target ?? ''} | ${mark(row.met)} |`),
  '',
  '## Settings',
  '',
  ...results.flatMap((result) => [`- **${result.name}**: ${result.settings}`, ...(result.notes ?? []).map((note) => `  ${note}`)]),
  '',
  acceptRateSection(acceptRates ?? []),
  ...sections.flatMap((result) => [
    '',
    `## ${result.name}`,
    '',
    `Settings: ${result.settings}.`,
    '',
    '| figure | value | target | |',
    '|---|---:|---|---|',
    ...result.figures.map((figure) => `| ${figure.label} | ${figure.value} | ${figure.target ?? ''} | ${mark(figure.met)} |`),
    ...(result.notes ?? []).flatMap((note) => ['', note]),
  ]),
].join('\n');
writeFileSync(outFile as string, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
process.stdout.write(`Wrote ${outFile}\n`);
if (missed.length > 0) process.exitCode = 1;
