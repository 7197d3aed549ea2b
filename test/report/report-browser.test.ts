/**
 * report.html in a real browser: Debian's Chromium driven by playwright-core opens the page of a real small
 * run from disk with every network request blocked. No request leaves the page, nothing logs an error,
 * every chart holds and draws its points (read from Chart.js's own state), and the sample browser filters.
 * A full-page screenshot is kept in $RAIDEN_TEST_ARTIFACTS/report/ (default: the system temp directory), never in
 * the checkout.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import { steppingClock } from '../pipeline/run-in-process.ts';
import { smallRun } from './small-run.ts';

const CHROMIUM = '/usr/bin/chromium';
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

interface ChartState {
  readonly id: string;
  readonly area: number;
  readonly datasets: readonly { readonly label: string; readonly points: number; readonly drawn: number }[] | null;
}

interface SlotState {
  readonly profile: string;
  readonly kind: string;
  readonly reasons: readonly string[];
}

const temporary: string[] = [];
let context: BrowserContext;
let page: Page;
const blocked: string[] = [];
const requested: string[] = [];
const errors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
  const run = mkdtempSync(join(tmpdir(), 'raiden-browser-run-'));
  const profile = mkdtempSync(join(tmpdir(), 'raiden-browser-profile-'));
  temporary.push(run, profile);
  await smallRun({ directory: run, clock: steppingClock(), writer: 'browser-test' });

  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('request', (request) => requested.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') errors.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  await page.goto(pathToFileURL(join(run, RUN_FILES.reportHtml)).href);
  await page.waitForSelector('body[data-ready="true"]');
});

afterAll(async () => {
  await context?.close();
  for (const directory of temporary) rmSync(directory, { recursive: true, force: true });
});

const slots = () =>
  page.evaluate<SlotState[]>(`Array.from(document.querySelectorAll('#browser .slot')).map((slot) => ({
    profile: slot.getAttribute('data-profile'),
    kind: slot.getAttribute('data-kind'),
    reasons: JSON.parse(slot.getAttribute('data-reasons')),
  }))`);

describe('report.html in Chromium', () => {
  it('loads from disk without a single network request and without errors', () => {
    expect(blocked).toEqual([]);
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((url) => !url.startsWith('file:'))).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('draws every chart with all its data points', async () => {
    const charts = await page.evaluate<ChartState[]>(`Array.from(document.querySelectorAll('canvas')).map((canvas) => {
      const chart = Chart.getChart(canvas);
      return {
        id: canvas.id,
        area: chart ? (chart.chartArea.right - chart.chartArea.left) * (chart.chartArea.bottom - chart.chartArea.top) : 0,
        datasets: chart ? chart.data.datasets.map((dataset, index) => ({
          label: dataset.label,
          points: dataset.data.length,
          drawn: chart.getDatasetMeta(index).data.filter((element) => Number.isFinite(element.x) && Number.isFinite(element.y)).length,
        })) : null,
      };
    })`);
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
    expect(errors).toEqual([]);
  });
});
