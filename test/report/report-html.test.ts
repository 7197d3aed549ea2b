/**
 * report.html without a browser: hostile text stays data, the page allows only its own scripts, the cost
 * over time ends where report.json's cost does, and a 10,000-sample run stays a few megabytes.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import {
  BROWSER_BYTES,
  buildReportData,
  loadReportPage,
  MAX_BINS,
  renderReportHtml,
  type ReportPage,
  type ReportData,
} from '../../orchestrator/src/core/report/report-html.ts';
import type { RunEvent } from '../../orchestrator/src/core/report/run-events.ts';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { steppingClock } from '../pipeline/run-in-process.ts';
import { reportDataOf } from './report-data.ts';
import { smallRun, type SmallRun } from './small-run.ts';

const HOSTILE = '</script><script>window.pwned = 1</script><!-- \u2028 & "quoted" \'single\' <img src=x onerror=alert(1)>';
const START = Date.parse('2026-01-01T00:00:00Z');
const iso = (seconds: number) => new Date(START + seconds * 1000).toISOString();

function sampleOf(profile: number, kind: 'SBK' | 'CM', index: number, seconds: number, name = `Character ${profile}`): Sample {
  return {
    id: `p${String(profile).padStart(5, '0')}/${kind}/${index}`,
    character_name: name,
    character_profile: { name, background: 'x'.repeat(200) },
    conversation_history:
      kind === 'CM'
        ? [
            { role: 'user', content: 'I met my friend Anna Weber at the lake yesterday, she brought her dog Biscuit.' },
            { role: 'assistant', content: 'That sounds like a lovely afternoon by the water.' },
          ]
        : [],
    question: 'Where did you spend the winter after the flood took the mill and the river rose over the bridge?',
    reasoning: 'I remember the winter well: the mill was gone, so I went to my aunt in the hills and worked the forge there. '.repeat(3),
    answer: 'In the hills, at my aunt’s forge; the mill was gone and the bridge under water.',
    keywords: ['forge', 'hills'],
    keyword_alternatives: [[], []],
    question_type: 'where',
    validation_method: 'multi_term_parsing',
    difficulty: 'medium',
    metadata: {
      kind,
      backend: 'bedrock',
      model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      language: 'en',
      strategy: 'bedrock',
      generated_at: iso(seconds),
      usage: { input_tokens: 1200, output_tokens: 380 },
      attempt: 1,
      focus: kind === 'SBK' ? 'field:background|where' : 'topic:a person the user knows (give them a distinctive full name)|who',
    },
  } as Sample;
}

function rejectOf(slot: string, seconds: number, reason: string, raw = '{"question": "Where', attempt = 1): RejectRecord {
  return {
    slot_id: slot,
    attempt,
    reason,
    detail: `why ${reason}`,
    raw_output: raw,
    backend: 'bedrock',
    model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
    usage: { input_tokens: 1200, output_tokens: 380 },
    rejected_at: iso(seconds),
  };
}

function eventsOf(samples: readonly Sample[], rejects: readonly RejectRecord[]): RunEvent[] {
  const events: RunEvent[] = [{ at: iso(0), writer: 'w', type: 'start' }];
  for (const s of samples)
    events.push({
      at: s.metadata.generated_at,
      writer: 'w',
      type: 'accepted',
      slot: s.id,
      kind: s.metadata.kind,
      backend: s.metadata.backend,
      model: s.metadata.model,
      attempt: 1,
      usage: s.metadata.usage,
    });
  for (const r of rejects)
    events.push({
      at: r.rejected_at,
      writer: 'w',
      type: 'rejected',
      slot: r.slot_id,
      kind: 'SBK',
      backend: r.backend,
      model: r.model,
      attempt: 1,
      reason: r.reason,
      usage: r.usage,
    });
  return events.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

const scripts = (html: string) => [...html.matchAll(/<script(?: [^>]*)?>([\s\S]*?)<\/script>/gu)].map((match) => match[1] ?? '');

let page: ReportPage;
beforeAll(async () => {
  page = await loadReportPage();
});

describe('report.html', () => {
  it('keeps hostile profile text and model output as data: no markup, no script, the same strings back', async () => {
    const samples = [sampleOf(1, 'SBK', 0, 5, HOSTILE)];
    const rejects = [rejectOf(`${HOSTILE}/SBK/1`, 9, `reason ${HOSTILE}`, HOSTILE), rejectOf('p/SBK/2', 10, '__proto__', '')];
    const data = await buildReportData({
      report: { run_id: HOSTILE },
      samples: () => samples,
      rejects: () => rejects,
      events: () => eventsOf(samples, rejects),
      prices: DEFAULT_PRICES,
    });
    const html = renderReportHtml(data, page);
    // Exactly the page's three script elements: the data, Chart.js and the page's own script.
    expect(html.match(/<script/giu)).toHaveLength(3);
    expect(html.match(/<\/script>/giu)).toHaveLength(3);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script>window.pwned');
    expect(scripts(html)[0]).not.toContain('\u2028');
    expect(html).toContain(`<title>raiden run &#60;/script&#62;&#60;script&#62;window.pwned = 1`);
    const back = reportDataOf(html);
    expect(back).toEqual(JSON.parse(JSON.stringify(data)));
    expect(back.browser.slots.map((slot) => slot.name)).toContain(HOSTILE);
    expect(back.browser.slots.flatMap((slot) => slot.rejects.map((r) => r.raw_output))).toEqual([HOSTILE, '']);
    expect(Object.entries(back.rejectsByReason)).toEqual([
      ['__proto__', 1],
      [`reason ${HOSTILE}`, 1],
    ]);
  });

  it('allows no connection and only its own two scripts, by hash', async () => {
    const html = renderReportHtml(
      await buildReportData({ report: undefined, samples: () => [], rejects: () => [], events: () => [], prices: DEFAULT_PRICES }),
      page,
    );
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/u.exec(html)?.[1] ?? '';
    expect(csp).toMatch(/^default-src 'none'; script-src 'sha256-[^']+' 'sha256-[^']+'; /u);
    const [, library, pageScript] = scripts(html);
    for (const script of [library, pageScript])
      expect(csp).toContain(
        `'sha256-${createHash('sha256')
          .update(script ?? '', 'utf8')
          .digest('base64')}'`,
      );
    expect(library).toContain('Chart.js v4');
    expect(library).not.toContain('sourceMappingURL');
  });

  it('refuses a report.html that lost one of its links, naming the file and the link', async () => {
    const data = await buildReportData({
      report: undefined,
      samples: () => [],
      rejects: () => [],
      events: () => [],
      prices: DEFAULT_PRICES,
    });
    const withoutScript = { ...page, html: page.html.replace('<script src="report.js"></script>', '') };
    expect(() => renderReportHtml(data, withoutScript)).toThrow(/page\/report\.html must hold .*report\\\.js.* once, not 0 times/u);
  });

  it('says what is missing for a run without report.json or events.jsonl', async () => {
    const samples = [sampleOf(1, 'SBK', 0, 5)];
    const data = await buildReportData({
      report: undefined,
      samples: () => samples,
      rejects: () => [],
      events: () => [],
      prices: DEFAULT_PRICES,
    });
    expect(data.timeline).toBeUndefined();
    expect(data.notes.join('\n')).toMatch(/report\.json is missing[\s\S]*No events\.jsonl/u);
    expect(data.summary).toContainEqual(['samples accepted', '1']);
  });

  it('stays a few megabytes for 10,000 samples: bounded time series, a capped browser that keeps every reject reason', async () => {
    const samples: Sample[] = [];
    const rejects: RejectRecord[] = [];
    const reasons = ['invalid_json', 'keyword_not_in_profile', 'keyword_not_in_answer', 'duplicate_question', 'rare_reason'];
    for (let profile = 0; profile < 1250; profile++)
      for (let index = 0; index < 8; index++) {
        const kind = index < 6 ? 'SBK' : 'CM';
        const seconds = profile * 6 + index;
        samples.push(sampleOf(profile, kind, index, seconds));
        if (index % 2 === 0) {
          const reason = profile === 999 ? 'rare_reason' : (reasons[(profile + index) % 4] as string);
          rejects.push(rejectOf(`p${String(profile).padStart(5, '0')}/${kind}/${index}`, seconds - 0.5, reason, 'z'.repeat(1900)));
        }
      }
    const events = eventsOf(samples, rejects);
    for (let second = 0; second < 7500; second += 5) events.push({ at: iso(second), writer: 'w', type: 'in_flight', requests: 64 });
    const data = await buildReportData({
      report: { run_id: 'big', plan: { profiles: 1250, slots: 10_000 } },
      samples: () => samples,
      rejects: () => rejects,
      events: () => events,
      prices: DEFAULT_PRICES,
    });
    const html = renderReportHtml(data, page);
    const bytes = Buffer.byteLength(html);
    expect(bytes).toBeLessThan(BROWSER_BYTES + 1_000_000);
    expect(data.timeline?.minutes.length).toBeLessThanOrEqual(MAX_BINS);
    expect(data.timeline?.progress[0]?.values.at(-1)).toBe(10_000);
    expect(data.browser.totalSlots).toBe(10_000);
    expect(data.browser.slots.length).toBeLessThan(10_000);
    expect(data.notes.join('\n')).toContain(
      `The sample browser holds ${data.browser.slots.length.toLocaleString('en-US')} of 10,000 slots`,
    );
    const shownReasons = new Set(data.browser.slots.flatMap((slot) => slot.rejects.map((r) => r.reason)));
    expect([...shownReasons].sort()).toEqual([...reasons].sort());
    // The spread reaches the last profiles too, not only the first.
    expect(data.browser.slots.some((slot) => slot.profile >= 'p01200')).toBe(true);
    expect(data.profiles).toHaveLength(1250);
    expect(data.coverage.kind).toEqual({ SBK: 7500, CM: 2500 });
  });
});

describe('report.html of a real small run', () => {
  let directory: string;
  let run: SmallRun;
  let data: ReportData;
  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'raiden-report-'));
    run = await smallRun({ directory, clock: steppingClock(), writer: 'only' });
    data = reportDataOf(readFileSync(join(directory, RUN_FILES.reportHtml), 'utf8'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("ends the Bedrock cost curve at report.json's Bedrock cost, and draws the estimate for the samples accepted", () => {
    const report = run.finished?.report;
    if (report === undefined || data.timeline === undefined) throw new Error('the run did not finish with a timeline');
    for (const [key, row] of Object.entries(report.cost.by_model)) {
      if (row.backend !== 'bedrock') continue;
      const series = data.timeline.cost.find((s) => s.label === key);
      expect(series?.values.at(-1)).toBeCloseTo(row.usd ?? Number.NaN, 3);
    }
    const estimate = data.timeline.estimate.find((s) => s.label.startsWith('estimate on SGLang'));
    expect(estimate?.values.at(-1)).toBeCloseTo(report.estimate.sglang.usd, 3);
  });

  it('counts rejects by reason, coverage and per-profile attempts from the files', () => {
    const report = run.finished?.report;
    expect(data.rejectsByReason).toEqual(
      Object.fromEntries(Object.entries(report?.rejects.total_by_reason ?? {}).sort(([, a], [, b]) => b - a)),
    );
    expect(Object.values(data.coverage.kind).reduce((a, b) => a + b, 0)).toBe(report?.samples.accepted);
    expect(data.profiles).toHaveLength(6);
    for (const [, , samples, , attempts] of data.profiles) expect(attempts).toBeGreaterThanOrEqual(samples);
  });
});
