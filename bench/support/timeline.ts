/**
 * Slot utilisation once warm: from the first moment every slot was busy to the last moment every slot was
 * busy (before that the orchestrator ramps up, after it the server drains the last requests and retries).
 * Equals achieved throughput / capacity (slots / mean service time) over that window; any gap the
 * orchestrator leaves between a response and the next request lowers it.
 */
export function warmUtilisation(timeline: readonly [number, number, number][], slots: number): { utilisation: number; windowMs: number } {
  const events: [number, number][] = [];
  for (const [, start, end] of timeline) events.push([start, 1], [end, -1]);
  // Ends sort before starts at the same instant: a slot freed and refilled at once was never two requests.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let busy = 0;
  let from: number | undefined;
  let to = 0;
  for (const [time, delta] of events) {
    busy += delta;
    if (busy >= slots) {
      from ??= time;
      to = time;
    }
  }
  if (from === undefined || to <= from) return { utilisation: 0, windowMs: 0 };
  let busyMs = 0;
  for (const [, start, end] of timeline) busyMs += Math.max(0, Math.min(end, to) - Math.max(start, from));
  return { utilisation: busyMs / (slots * (to - from)), windowMs: to - from };
}

export function meanServiceMs(timeline: readonly [number, number, number][]): number {
  return timeline.reduce((sum, [, start, end]) => sum + (end - start), 0) / Math.max(1, timeline.length);
}
