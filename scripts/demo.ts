/**
 * `npm run demo`: the quick start without a GPU. Starts the simulated SGLang server from bench/ on a free
 * local port and runs the real `raiden generate` against it on the example profiles.
 */
import '../orchestrator/src/cli/require-node.mjs';
import { main } from '../orchestrator/src/cli/main.ts';
import { startTestServer } from '../bench/simulated-sglang/server.ts';

const server = await startTestServer({ model: 'simulated-sglang', latencyMs: 150 });
process.stderr.write(`demo: simulated SGLang server at ${server.url} (model "simulated-sglang")\n`);
try {
  process.exitCode = await main([
    'generate',
    '--profiles',
    'examples/profiles.zh.json',
    '--include-cm',
    '--endpoint',
    server.url,
    '--out',
    'runs/demo',
    ...process.argv.slice(2),
  ]);
} finally {
  await server.close();
}
