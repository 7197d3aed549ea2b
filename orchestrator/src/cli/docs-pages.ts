import type { Command } from 'commander';

/** The docs/ page that holds each command's full reference, so `--help` can send a reader on. */
export const DOCS_PAGES: Readonly<Record<string, string>> = {
  generate: 'docs/generate.md',
  reverify: 'docs/generate.md',
  evaluate: 'docs/generate.md',
  report: 'docs/generate.md',
  export: 'docs/train.md',
  doctor: 'docs/deploy.md',
  weights: 'docs/deploy.md',
  start: 'docs/workflow.md',
  status: 'docs/workflow.md',
  teardown: 'docs/workflow.md',
};

/** Ends the help of every command listed in DOCS_PAGES (and its subcommands) with the page to read next. */
export function linkDocsPages(program: Command): void {
  const visit = (command: Command, page: string | undefined): void => {
    const own = DOCS_PAGES[command.name()] ?? page;
    if (own !== undefined) command.addHelpText('after', `\nReference: ${own} in this repository.`);
    for (const sub of command.commands) visit(sub, own);
  };
  for (const command of program.commands) visit(command, undefined);
}
