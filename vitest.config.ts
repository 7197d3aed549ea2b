// Before vitest starts any test: on an older Node.js it would run for minutes and then fail obscurely.
import './orchestrator/src/cli/require-node.mjs';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // CDK synth and CLI subprocess tests are CPU-heavy; two workers match the two-core CI machine.
    maxWorkers: 2,
    // Tests count model calls: none may be answered from a developer's response cache. Cache tests pass --cache-dir.
    env: { RAIDEN_NO_CACHE: '1' },
  },
});
