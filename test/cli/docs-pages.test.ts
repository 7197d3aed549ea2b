/**
 * `--help` of each command names the docs/ page with its reference, and every page named, every page README
 * links and every relative link inside docs/ exists, so a reader sent on by the help or README lands somewhere.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOCS_PAGES } from '../../orchestrator/src/cli/docs-pages.ts';
import { ROOT, runCli } from '../support/run-cli.ts';

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
const anchorOf = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- ]/gu, '')
    .replaceAll(' ', '-');

function anchorsIn(path: string): Set<string> {
  const anchors = new Set<string>();
  let inCode = false;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const heading = /^#{1,6} (.+)$/u.exec(line)?.[1];
    if (!inCode && heading !== undefined) anchors.add(anchorOf(heading));
  }
  return anchors;
}

/** Every relative Markdown link of a file that points at a missing file or heading. */
function brokenLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/gu, '');
  const broken: string[] = [];
  for (const [, target = ''] of text.matchAll(/\]\(([^)\s]+)\)/gu)) {
    if (/^[a-z]+:/u.test(target)) continue;
    const [path = '', anchor] = target.split('#');
    const resolved = path === '' ? file : join(dirname(file), path);
    if (!existsSync(resolved) || (anchor !== undefined && resolved.endsWith('.md') && !anchorsIn(resolved).has(anchor)))
      broken.push(`${file.slice(ROOT.length)}: ${target}`);
  }
  return broken;
}

describe('documentation pages', () => {
  it.each(Object.entries(DOCS_PAGES))('raiden %s --help names %s, which exists', async (command, page) => {
    const result = await runCli([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Reference: ${page}`);
    expect(existsSync(join(ROOT, page))).toBe(true);
  });

  it('a subcommand inherits its parent page', async () => {
    expect((await runCli(['weights', 'stage', '--help'])).stdout).toContain('Reference: docs/deploy.md');
  });

  it('README and docs/ have no broken relative link or anchor, and README links every page of docs/', () => {
    const pages = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md'));
    const files = [join(ROOT, 'README.md'), ...pages.map((name) => join(ROOT, 'docs', name))];
    expect(files.flatMap(brokenLinks)).toEqual([]);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(pages.filter((name) => !readme.includes(`](docs/${name})`))).toEqual([]);
  });
});
