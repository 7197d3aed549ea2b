import { setFlagsFromString } from 'node:v8';

/**
 * Keeps a large run's memory flat in its number of profiles. V8 lets the heap grow to several times what
 * survived its last full collection before it collects again, so a plan that holds a little more peaks at
 * far more memory; growing by at most 1.5x trades some CPU for it. BENCHMARKS.md (Scale and memory) has the
 * dry run's peak memory with this setting (no with/without comparison is kept). It is a V8 flag set after start, which Node documents
 * may "simply do nothing" on another version (https://nodejs.org/api/v8.html#v8setflagsfromstringflags):
 * then the default growth stays, and only memory differs.
 */
export function boundHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=50');
}
