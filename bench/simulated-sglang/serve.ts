/**
 * Runs the simulated SGLang server in its own process: `npx tsx bench/simulated-sglang/serve.ts --port 30000
 * --latency-ms 200`. Useful to try `raiden generate` or measure the orchestrator without a GPU.
 */
import { parseArgs } from 'node:util';
import { startTestServer } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '30000' },
    'latency-ms': { type: 'string', default: '0' },
    model: { type: 'string', default: 'simulated-sglang' },
  },
});
const server = await startTestServer({ port: Number(values.port), latencyMs: Number(values['latency-ms']), model: values.model });
process.stdout.write(`simulated SGLang listening at ${server.url}\n`);
const stop = async () => {
  await server.close();
  process.stdout.write(`served ${server.stats.chatRequests} chat requests, at most ${server.stats.maxConcurrent} at once\n`);
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
