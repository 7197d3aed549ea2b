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
process.stdout.write(`
The answers in runs/demo are simulated: a stand-in model (bench/simulated-sglang) copied phrases of the
profiles, so the pipeline, verification and outputs are real but the questions and answers are filler.

Next steps:
  npx raiden generate --profiles examples/profiles.en.jsonl --endpoint http://localhost:30000 --include-cm   your own SGLang server
  npx raiden generate --profiles examples/profiles.en.jsonl --backend bedrock --dry-run                      Bedrock: plan and price first
  npx raiden report --run runs/demo                                                                          rebuild runs/demo/report.html
  npx raiden export --run runs/demo --format verl --out runs/demo-verl                                       for verl, trl, easyr1 or sft
  npx raiden doctor && npx raiden deploy                                                                     the GPU fleet and workflow on AWS
`);
