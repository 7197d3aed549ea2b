/**
 * A Lambda bundle is one index.mjs with the files of BUNDLED_FILES copied beside it. The synth in the other
 * tests skips bundling, so this lays a directory out with the construct's own copy commands and reads the
 * report page from it as the bundled code does: every file it needs is there, at the path it looks for.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bundledFileCommands } from '../../lib/constructs/orchestrator-function/index.ts';
import {
  buildReportData,
  CHART_LIBRARY_FILE,
  loadReportPage,
  PAGE_DIR,
  PAGE_FILES,
  renderReportHtml,
} from '../../orchestrator/src/core/report/report-html.ts';
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import { REWARD_FILE } from '../../orchestrator/src/core/export/run-export.ts';

const bundle = mkdtempSync(join(tmpdir(), 'raiden-bundle-'));
afterAll(() => rmSync(bundle, { recursive: true, force: true }));

describe('the files a Lambda bundle carries', () => {
  it('puts the report page, Chart.js and the reward function where the bundled code reads them', async () => {
    for (const command of bundledFileCommands(bundle)) execFileSync('sh', ['-c', command]);
    const expected = [...Object.values(PAGE_FILES).map((name) => `${PAGE_DIR}/${name}`), CHART_LIBRARY_FILE, REWARD_FILE];
    expect(expected.filter((file) => !existsSync(join(bundle, file)))).toEqual([]);

    const bundled = await loadReportPage(pathToFileURL(`${bundle}/`));
    expect(bundled).toEqual(await loadReportPage());
    const html = renderReportHtml(
      await buildReportData({ report: undefined, samples: () => [], rejects: () => [], events: () => [], prices: DEFAULT_PRICES }),
      bundled,
    );
    expect(html.match(/<script/giu)).toHaveLength(3);
    expect(html).not.toMatch(/<link |<script src=/u);
  });

  it('a bundle without the page files fails loudly instead of writing a page without them', async () => {
    const empty = mkdtempSync(join(bundle, 'empty-'));
    await expect(loadReportPage(pathToFileURL(`${empty}/`))).rejects.toThrow(/report\.html/u);
  });
});
