/**
 * Opens a report.html from disk in Debian's Chromium (playwright-core, never a downloaded browser) with every
 * network request blocked, recording what the page asked for and every console error, and reads the charts'
 * state from Chart.js itself.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

export interface ChartState {
  readonly id: string;
  readonly area: number;
  readonly datasets: readonly { readonly label: string; readonly points: number; readonly drawn: number }[] | null;
}

export interface ReportPage {
  readonly page: Page;
  /** Requests the page made that were not files: each one was aborted. */
  readonly blocked: string[];
  readonly requested: string[];
  readonly errors: string[];
  close(): Promise<void>;
}

export async function openReportPage(file: string): Promise<ReportPage> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
  const profile = mkdtempSync(join(tmpdir(), 'raiden-browser-profile-'));
  // As root, and without the background services that reach for the network at every start.
  const context = await chromium.launchPersistentContext(profile, {
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
  const blocked: string[] = [];
  const requested: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('request', (request) => requested.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') errors.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-ready="true"]');
  return {
    page,
    blocked,
    requested,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Every chart of the page, with its datasets' points and how many of them Chart.js drew. */
export function chartStates(page: Page): Promise<ChartState[]> {
  return page.evaluate<ChartState[]>(`Array.from(document.querySelectorAll('canvas')).map((canvas) => {
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
}
