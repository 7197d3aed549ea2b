/** The data a report.html embeds, read back from the page as the browser reads it. */
import type { ReportData } from '../../orchestrator/src/core/report/report-html.ts';

export function reportDataOf(html: string): ReportData {
  const json = /<script type="application\/json" id="report-data">([^<]*)<\/script>/u.exec(html)?.[1];
  if (json === undefined) throw new Error('report.html has no report-data script element');
  return JSON.parse(json) as ReportData;
}
