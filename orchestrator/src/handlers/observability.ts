/**
 * Structured JSON logs (one object a line, with the run and batch ids, so Logs Insights can filter a run)
 * and per-run metrics in CloudWatch Embedded Metric Format: printed like a log line, extracted into
 * metrics by CloudWatch, no SDK call and no extra latency.
 */
import { DEFAULT_METRICS_NAMESPACE, ENV, type RunMetric } from '../contract/deployed-names.ts';

export interface LogContext {
  readonly handler: string;
  readonly runId?: string | undefined;
  readonly batchId?: string | undefined;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  with(context: Partial<LogContext>): Logger;
}

export function logger(context: LogContext): Logger {
  const write = (level: string, message: string, fields: Record<string, unknown> = {}) =>
    console.log(JSON.stringify({ level, time: new Date().toISOString(), message, ...context, ...fields }));
  return {
    info: (message, fields) => write('INFO', message, fields),
    warn: (message, fields) => write('WARN', message, fields),
    error: (message, fields) => write('ERROR', message, fields),
    with: (more) => logger({ ...context, ...more }),
  };
}

/** Prints one EMF record: the values per run (dimension RunId) and over all runs (no dimension). */
export function emitRunMetrics(runId: string, values: Partial<Record<RunMetric, number>>): void {
  const names = Object.keys(values) as RunMetric[];
  if (names.length === 0) return;
  console.log(
    JSON.stringify({
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: process.env[ENV.metricsNamespace] ?? DEFAULT_METRICS_NAMESPACE,
            Dimensions: [['RunId'], []],
            Metrics: names.map((name) => ({ Name: name, Unit: 'Count' })),
          },
        ],
      },
      RunId: runId,
      ...values,
    }),
  );
}
