/**
 * report.html in a real browser: Debian's Chromium driven by playwright-core opens the page of a real small
 * run from disk with every network request blocked. No request leaves the page, nothing logs an error,
 * every chart holds and draws its points (read from Chart.js's own state), and the sample browser filters.
 * A short run (under a second, nothing rejected) shows its charts as curves on a time axis in seconds.
 * Full-page screenshots of the long and the short run are kept in $RAIDEN_TEST_ARTIFACTS/report/ (default:
 * the system temp directory), never in the checkout.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
let shortRun: string;
let short: ReportPage;

/** A clock 10 ms a reading: the whole run takes well under a second, as the demo does. */
function quickClock(): () => Date {
  let ticks = 0;
  return () => new Date(Date.parse('2026-01-01T00:00:00Z') + 10 * ticks++);
}

beforeAll(async () => {
  run = mkdtempSync(join(tmpdir(), 'raiden-browser-run-'));
  await smallRun({ directory: run, clock: steppingClock(), writer: 'browser-test' });
  report = await openReportPage(join(run, RUN_FILES.reportHtml));
  page = report.page;
  shortRun = mkdtempSync(join(tmpdir(), 'raiden-browser-short-'));
  await smallRun({ directory: shortRun, clock: quickClock(), writer: 'short', plain: true });
  short = await openReportPage(join(shortRun, RUN_FILES.reportHtml));
});

afterAll(async () => {
  await report?.close();
  await short?.close();
  rmSync(run, { recursive: true, force: true });
  rmSync(shortRun, { recursive: true, force: true });
});

interface AxisState {
  readonly id: string;
  readonly scales: Readonly<Record<string, { readonly title: string; readonly ticks: readonly { value: number; label: string }[] }>>;
  readonly datasets: readonly { readonly label: string; readonly points: number; readonly radius: number }[];
}

/** Each chart's axes (title, tick values and labels) and each dataset's point count and radius. */
const axes = (on: Page) =>
  on.evaluate<AxisState[]>(`Array.from(document.querySelectorAll('canvas')).map((canvas) => {
    const chart = Chart.getChart(canvas);
    return {
      id: canvas.id,
      scales: Object.fromEntries(Object.entries(chart.scales).map(([key, scale]) => [key, {
        title: scale.options.title && scale.options.title.display ? scale.options.title.text : '',
        ticks: scale.ticks.map((tick) => ({ value: tick.value, label: String(tick.label) })),
      }])),
      datasets: chart.data.datasets.map((dataset) => ({ label: dataset.label, points: dataset.data.length, radius: dataset.pointRadius })),
    };
  })`);

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
    await page.screenshot({ path: join(ARTIFACTS, 'report-long.png'), fullPage: true });
    expect(report.errors).toEqual([]);
  });

  it('reads a run of minutes in minutes, and counts whole outputs and samples on every count axis', async () => {
    expect((await axes(page)).find((chart) => chart.id === 'chart-progress')?.scales.x?.title).toBe('minutes since the first event');
    for (const on of [page, short.page]) await expectWholeCounts(on);
  });
});

/** The axes that count outputs, samples or keywords tick at whole numbers only (no "0.5 samples"). */
async function expectWholeCounts(on: Page): Promise<void> {
  const charts = await axes(on);
  const counts = [
    charts.find((chart) => chart.id === 'chart-progress')?.scales.y,
    ...charts.filter((chart) => ['chart-reasons', 'chart-field'].includes(chart.id)).map((chart) => chart.scales.x),
    ...charts
      .filter((chart) => ['chart-question-type', 'chart-kind', 'chart-difficulty', 'chart-keywords'].includes(chart.id))
      .map((chart) => chart.scales.y),
  ];
  for (const scale of counts)
    expect(
      scale?.ticks.every((tick) => Number.isInteger(tick.value)),
      JSON.stringify(scale),
    ).toBe(true);
}

describe('the report of a short run in Chromium', () => {
  it('loads without errors and draws each series over time as a curve, on an axis in seconds', async () => {
    expect(short.errors).toEqual([]);
    const charts = await axes(short.page);
    for (const id of ['chart-rate', 'chart-progress', 'chart-cost']) {
      const chart = charts.find((candidate) => candidate.id === id);
      expect(chart?.scales.x?.title, id).toBe('seconds since the first event');
      const labels = chart?.scales.x?.ticks.map((tick) => tick.label) ?? [];
      expect(labels.length, id).toBeGreaterThan(2);
      expect(new Set(labels).size, `${id}: ${labels.join(' ')}`).toBe(labels.length);
      for (const dataset of chart?.datasets ?? [])
        if (dataset.label !== 'invocation started') expect(dataset.points, `${id}: ${dataset.label}`).toBeGreaterThan(2);
    }
    const cost = charts.find((chart) => chart.id === 'chart-cost');
    expect(cost?.datasets.find((dataset) => dataset.label.startsWith('estimate on SGLang'))?.points).toBeGreaterThan(2);
  });

  it('says "no rejected attempts" in grey beside an accepted sample, and no chart-high blank under an empty chart', async () => {
    const on = short.page;
    const heading = on.locator('#browser .slot .rejected h4').first();
    expect(await heading.textContent()).toBe('no rejected attempts');
    expect(await on.evaluate<string>(`getComputedStyle(document.querySelector('#browser .slot .rejected h4')).color`)).toBe(
      'rgb(107, 114, 128)',
    );
    const note = on.locator('#chart-reasons-empty');
    expect(await note.textContent()).toBe('nothing to show yet');
    const box = await note.boundingBox();
    expect(box?.height).toBeLessThan(60);
  });

  it('gives a few seconds of GPU time in seconds beside its cost, and report.json its estimate without float noise', async () => {
    const costRows = await short.page.evaluate<string[][]>(
      `Array.from(document.querySelectorAll('#cost-table tr'), (row) => Array.from(row.children, (cell) => cell.textContent))`,
    );
    const gpu = costRows.find((row) => row[1] === 'GPU time');
    expect(Number(gpu?.[7])).toBeGreaterThan(0);
    expect(gpu?.[8]).toMatch(/^\d+(\.\d)? s of GPU instance time at \$63\/h$/u);
    const json = readFileSync(join(shortRun, RUN_FILES.report), 'utf8');
    expect(json.match(/\d\.\d{9,}/gu) ?? []).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await short.page.screenshot({ path: join(ARTIFACTS, 'report-short.png'), fullPage: true });
  });
});
