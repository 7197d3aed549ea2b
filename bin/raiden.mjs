#!/usr/bin/env node
// The `raiden` command: loads the TypeScript CLI through tsx so no build step is needed after `npm ci`.
import '../orchestrator/src/cli/require-node.mjs';
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../orchestrator/src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
