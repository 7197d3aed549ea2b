import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // CDK synth and CLI subprocess tests are CPU-heavy; two workers match the two-core CI machine.
    maxWorkers: 2,
  },
});
