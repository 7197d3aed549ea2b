import { readFileSync } from 'node:fs';
import type { RunReport } from '../../orchestrator/src/core/report/run-report.ts';
import { fmt, type BenchContext, type ScenarioResult } from '../support/scenario.ts';
import { saturationRun, type SaturationRun } from './saturation.ts';

const readReport = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as RunReport;

/** 10% transport faults and 10% invalid outputs against the 64-slot engine: throughput kept, nothing lost, extra requests counted. */
export async function faultsScenario(context: BenchContext, baseline: SaturationRun): Promise<ScenarioResult> {
  const faulty = await saturationRun(context, 64, { 'transport-fault-rate': 0.1, 'invalid-rate': 0.1, seed: 3 }, ['--max-attempts', '6']);
  const clean = readReport(baseline.report);
  const report = readReport(faulty.report);
  const slots = report.plan.slots;
  const extra = report.requests.this_invocation - slots;
  const injected = report.requests.transport_failures + report.rejects.this_invocation;
  const kept = report.throughput.samples_per_s / clean.throughput.samples_per_s;
  return {
    name: 'Faults',
    settings:
      '64-slot engine as in Saturation; the server fails 10% of requests (500, connection reset, 429 without Retry-After) and returns an invalid sample for 10% (ungrounded keyword, truncated JSON, keyword missing from the answer); --max-attempts 6',
    figures: [
      {
        label: 'samples accepted / slots planned',
        value: `${report.samples.accepted} / ${slots}`,
        target: 'all',
        met: report.samples.accepted === slots && report.samples.empty_slots === 0,
      },
      { label: 'extra requests (requests - slots)', value: String(extra) },
      {
        label: 'injected faults seen (transport failures + rejected outputs)',
        value: String(injected),
        target: '= extra requests',
        met: injected === extra,
      },
      { label: 'throughput kept (samples/s with faults / without)', value: fmt(kept, 3) },
      {
        label: 'ceiling for it: share of decode work that went to accepted samples (slots / requests decoded)',
        value: fmt(slots / faulty.served, 3),
      },
      { label: 'slot utilisation while warm', value: fmt(faulty.utilisation, 3) },
    ],
  };
}
