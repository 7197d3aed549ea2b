/**
 * Runs the simulated SGLang server in its own process, e.g.
 * `npx tsx bench/simulated-sglang/serve.ts --port 30000 --latency-ms 200`, or with the engine model
 * (`--slots 64 --decode-ms-per-token 0.5 ...`) as the benchmarks do. Prints `{"url": ...}` once listening.
 */
import { parseArgs } from 'node:util';
import { mixedFaults, startTestServer } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '30000' },
    model: { type: 'string', default: 'simulated-sglang' },
    'latency-ms': { type: 'string', default: '0' },
    slots: { type: 'string' },
    'decode-ms-per-token': { type: 'string', default: '0.5' },
    'prefill-ms-per-char': { type: 'string', default: '0.01' },
    'sbk-output-tokens': { type: 'string', default: '350' },
    'cm-output-tokens': { type: 'string', default: '650' },
    sigma: { type: 'string', default: '0.5' },
    'cache-chars': { type: 'string', default: '1000000' },
    'transport-fault-rate': { type: 'string', default: '0' },
    'invalid-rate': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
  },
});
const num = (name: keyof typeof values) => Number(values[name]);
const server = await startTestServer({
  port: num('port'),
  model: values.model,
  latencyMs: num('latency-ms'),
  fault: mixedFaults(num('transport-fault-rate'), num('invalid-rate'), num('seed')),
  ...(values.slots !== undefined
    ? {
        engine: {
          slots: num('slots'),
          decodeMsPerToken: num('decode-ms-per-token'),
          prefillMsPerChar: num('prefill-ms-per-char'),
          outputTokens: { raiden_sbk_sample: num('sbk-output-tokens'), raiden_cm_sample: num('cm-output-tokens') },
          sigma: num('sigma'),
          cacheChars: num('cache-chars'),
          seed: num('seed'),
        },
      }
    : {}),
});
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
