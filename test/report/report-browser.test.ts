/**
 * report.html in a real browser: Debian's Chromium driven by playwright-core opens the page of a real small
 * run from disk with every network request blocked. No request leaves the page, nothing logs an error,
 * every chart holds and draws its points (read from Chart.js's own state), and the sample browser filters.
 * A full-page screenshot is kept in $RAIDEN_TEST_ARTIFACTS/report/ (default: the system temp directory), never in
 * the checkout.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import { steppingClock } from '../pipeline/run-in-process.ts';
import { chartStates, openReportPage, type ReportPage } from '../support/report-page.ts';
import { smallRun } from './small-run.ts';

const ARTIFACTS = join(process.env.RAIDEN_TEST_ARTIFACTS ?? join(tmpdir(), 'raiden-test-artifacts'), 'report');
const CHARTS = [
  'chart-rate',
  'chart-progress',
  'chart-cost',
  'chart-reasons',
  'chart-field',
  'chart-question-type',
  'chart-kind',
  'chart-difficulty',
  'chart-keywords',
];

interface SlotState {
  readonly profile: string;
  readonly kind: string;
  readonly reasons: readonly string[];
}

let run: string;
let report: ReportPage;
let page: Page;

beforeAll(async () => {
  run = mkdtempSync(join(tmpdir(), 'raiden-browser-run-'));
  await smallRun({ directory: run, clock: steppingClock(), writer: 'browser-test' });
  report = await openReportPage(join(run, RUN_FILES.reportHtml));
  page = report.page;
});

afterAll(async () => {
  await report?.close();
  rmSync(run, { recursive: true, force: true });
});

const slots = () =>
  page.evaluate<SlotState[]>(`Array.from(document.querySelectorAll('#browser .slot')).map((slot) => ({
    profile: slot.getAttribute('data-profile'),
    kind: slot.getAttribute('data-kind'),
    reasons: JSON.parse(slot.getAttribute('data-reasons')),
  }))`);

describe('report.html in Chromium', () => {
  it('loads from disk without a single network request and without errors', () => {
    expect(report.blocked).toEqual([]);
    expect(report.requested.length).toBeGreaterThan(0);
    expect(report.requested.filter((url) => !url.startsWith('file:'))).toEqual([]);
    expect(report.errors).toEqual([]);
  });

  it('draws every chart with all its data points', async () => {
    const charts = await chartStates(page);
    expect(charts.map((chart) => chart.id)).toEqual(CHARTS);
    for (const chart of charts) {
      expect(chart.area, chart.id).toBeGreaterThan(0);
      expect(chart.datasets?.length, chart.id).toBeGreaterThan(0);
      for (const dataset of chart.datasets ?? []) {
        expect(dataset.points, `${chart.id}: ${dataset.label}`).toBeGreaterThan(0);
        expect(dataset.drawn, `${chart.id}: ${dataset.label}`).toBe(dataset.points);
      }
    }
    const labels = charts.flatMap((chart) => (chart.datasets ?? []).map((dataset) => dataset.label));
    expect(labels).toEqual(
      expect.arrayContaining([
        'requests in flight',
        'invocation started',
        'sglang GPU time ($63/h)',
        'bedrock:us.anthropic.claude-sonnet-4-5-20250929-v1:0',
        'estimate on SGLang for the samples accepted so far',
      ]),
    );
  });

  it('filters the sample browser by reason, profile and kind, accepted and rejected side by side', async () => {
    const all = await slots();
    expect(all.length).toBeGreaterThan(0);
    expect(await page.locator('#browser .slot').first().locator('.accepted, .rejected').count()).toBe(2);

    const reason = all.flatMap((slot) => slot.reasons).find((r) => r.startsWith('judge_')) ?? '';
    await page.selectOption('#filter-reason', reason);
    const byReason = await slots();
    expect(byReason.length).toBeGreaterThan(0);
    expect(byReason.length).toBeLessThan(all.length);
    expect(byReason.every((slot) => slot.reasons.includes(reason))).toBe(true);
    expect(await page.locator('#browser .reason', { hasText: reason }).count()).toBeGreaterThanOrEqual(byReason.length);

    await page.selectOption('#filter-reason', '-');
    expect((await slots()).every((slot) => slot.reasons.length === 0)).toBe(true);

    await page.selectOption('#filter-reason', '');
    const profile = all.at(-1)?.profile ?? '';
    await page.selectOption('#filter-profile', profile);
    const byProfile = await slots();
    expect(byProfile.length).toBe(all.filter((slot) => slot.profile === profile).length);

    await page.selectOption('#filter-kind', 'CM');
    const byProfileAndKind = await slots();
    expect(byProfileAndKind.length).toBeGreaterThan(0);
    expect(byProfileAndKind.every((slot) => slot.profile === profile && slot.kind === 'CM')).toBe(true);
    expect(await page.textContent('#browser-count')).toBe(`${byProfileAndKind.length} of ${all.length} slots match`);

    // The charts and a short browser list: the whole page, quick to capture.
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    expect(report.errors).toEqual([]);
  });
});
