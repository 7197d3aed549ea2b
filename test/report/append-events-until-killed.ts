/**
 * Child process of the kill -9 test: logs rejects through a RunEventLog over a local run directory as
 * fast as it can, forever, until the test kills it. Run with `node --import tsx <this file> <directory>`.
 */
import { RunEventLog } from '../../orchestrator/src/core/report/run-events.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';

const directory = process.argv[2];
if (directory === undefined) throw new Error('usage: append-events-until-killed.ts <run directory>');
const store = new RunEventLog(await LocalRunStore.open(directory), { writer: 'killed' });
await store.prepareAppends();
for (let attempt = 1; ; attempt++) {
  await store.appendReject({
    slot_id: `p${attempt % 7}/SBK/${attempt}`,
    attempt,
    reason: 'invalid_json',
    detail: 'x'.repeat(300),
    raw_output: 'y'.repeat(2000),
    backend: 'sglang',
    model: 'qwen-sim',
    usage: { input_tokens: attempt, output_tokens: 1 },
    rejected_at: new Date().toISOString(),
  });
  if (attempt % 50 === 0) await store.sample(attempt % 13);
}
