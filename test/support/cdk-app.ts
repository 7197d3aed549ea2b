/**
 * Builds the CDK app the way bin/raiden-app.ts does (cdk.json context, cdk-nag, createStacks), with
 * test context on top, and synthesizes it once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseConfig } from '../../lib/config.ts';
import type { RaidenConfig } from '../../lib/config.ts';
import { createStacks } from '../../lib/create-stacks.ts';
import type { RaidenStacks } from '../../lib/create-stacks.ts';

export const CDK_JSON_CONTEXT = JSON.parse(readFileSync(join(import.meta.dirname, '../../cdk.json'), 'utf8')).context as Record<
  string,
  unknown
>;

export interface SynthesizedApp {
  readonly config: RaidenConfig;
  readonly stacks: RaidenStacks;
  readonly data: Template;
  readonly fleet: Template;
  readonly bedrock: Template;
  readonly orchestrator: Template;
  /** Violations cdk-nag reported as warnings (errors make synth throw). */
  readonly nagWarnings: string[];
}

export function synthApp(context: Record<string, unknown> = {}): SynthesizedApp {
  const app = new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context } });
  const { config } = parseConfig(app.node.getAllContext(), {});
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stacks = createStacks(app, config);
  const assembly = app.synth();
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as {
    pluginReports: { violations: { ruleName: string; severity: string; violatingConstructs?: { constructPath: string }[] }[] }[];
  };
  const nagWarnings = report.pluginReports.flatMap((plugin) =>
    plugin.violations.map((v) => `${v.severity} ${v.ruleName} ${(v.violatingConstructs ?? []).map((c) => c.constructPath).join(', ')}`),
  );
  return {
    config,
    stacks,
    data: Template.fromStack(stacks.data),
    fleet: Template.fromStack(stacks.fleet),
    bedrock: Template.fromStack(stacks.bedrock),
    orchestrator: Template.fromStack(stacks.orchestrator),
    nagWarnings,
  };
}
