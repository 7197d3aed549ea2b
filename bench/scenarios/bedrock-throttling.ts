import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBedrockTestServer } from '../simulated-bedrock/server.ts';
import { runPipelineChild } from '../support/run-child.ts';
import { fmt, type BenchContext, type ScenarioResult } from '../support/scenario.ts';
import { writeSyntheticProfiles } from '../support/synthetic-profiles.ts';

const RATE_PER_SECOND = 200;
// A burst of 0.1 s worth of requests: enough that answers arriving together do not trip it, as a per-minute quota would not.
const BURST = 20;
const LATENCY_MS = 100;
const CEILING = 64;

/** Answered requests per second between the 10th and 90th percentile of answers, over the allowed rate. */
function steadyRatio(times: readonly number[]): number {
  const from = times[Math.floor(times.length * 0.1)] ?? 0;
  const to = times[Math.floor(times.length * 0.9)] ?? 0;
  const answered = Math.floor(times.length * 0.9) - Math.floor(times.length * 0.1);
  return to > from ? answered / ((to - from) / 1000) / RATE_PER_SECOND : 0;
}

/** `--strategy bedrock` against a token-bucket-throttled Bedrock-compatible server: the adaptive limiter's figure. */
export async function bedrockThrottlingScenario(context: BenchContext): Promise<ScenarioResult> {
  const profilesCount = context.quick ? 300 : 700;
  const profiles = writeSyntheticProfiles(join(context.workDir, `bedrock-${profilesCount}.jsonl`), profilesCount);
  // In this (otherwise idle) process; the pipeline runs in a child, so their CPU time stays apart.
  const server = await startBedrockTestServer({
    latencyMs: LATENCY_MS,
    latencySpread: 0.5,
    rateLimit: { ratePerSecond: RATE_PER_SECOND, burst: BURST },
  });
  try {
    const out = join(context.workDir, 'bedrock-run');
    const child = await runPipelineChild(
      {
        mode: 'cli',
        args: [
          'generate',
          '--profiles',
          profiles,
          '--include-cm',
          '--strategy',
          'bedrock',
          '--bedrock-endpoint',
          server.url,
          '--bedrock-max-concurrency',
          String(CEILING),
          '--concurrency',
          String(CEILING),
          '--out',
          out,
        ],
      },
      [],
      {
        AWS_ACCESS_KEY_ID: 'AKIDBENCH',
        AWS_SECRET_ACCESS_KEY: 'bench-secret',
        AWS_REGION: 'us-east-1',
        // A set AWS_PROFILE makes the SDK skip the keys above and read the user's ~/.aws: the bench never does.
        AWS_PROFILE: '',
        AWS_CONFIG_FILE: join(context.workDir, 'no-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(context.workDir, 'no-aws-credentials'),
      },
    );
    const { stats } = server;
    const slots = profilesCount * 3;
    // The run's own count: the server's successes also include the preflight call and answers the verifier rejected.
    const accepted = (JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { samples: { accepted: number; empty_slots: number } })
      .samples;
    const whole = stats.succeeded / (((stats.lastSuccessAt ?? 0) - (stats.firstSuccessAt ?? 0)) / 1000) / RATE_PER_SECOND;
    const steady = steadyRatio(stats.successTimes);
    return {
      name: 'Bedrock throttling',
      settings: `${slots.toLocaleString('en-US')} slots (${profilesCount} synthetic profiles x 2 SBK + 1 CM) with --strategy bedrock against a Bedrock-compatible HTTP/2 server (real AWS SDK) that allows ${RATE_PER_SECOND} requests/s (token bucket, burst ${BURST}) and answers in ${LATENCY_MS} ms ± 50% (uniform), ThrottlingException beyond; limiter ceiling ${CEILING}, start 4`,
      figures: [
        {
          label: 'achieved / allowed rate, steady state (10th to 90th percentile of answers)',
          value: fmt(steady, 3),
          target: '>= 0.9',
          met: steady >= 0.9,
        },
        { label: 'achieved / allowed rate, first to last answer (ramp-up from 4 included)', value: fmt(whole, 3) },
        {
          label: 'samples accepted / slots (no failed sample)',
          value: `${accepted.accepted} / ${slots}`,
          target: 'all',
          met: accepted.accepted === slots && accepted.empty_slots === 0 && child.exitCode === 0,
        },
        {
          label: 'throttled requests (retried)',
          value: `${stats.throttled} (${fmt((100 * stats.throttled) / stats.requests, 1)}% of ${stats.requests})`,
        },
      ],
    };
  } finally {
    await server.close();
  }
}
