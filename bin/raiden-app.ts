#!/usr/bin/env node
// CDK entry: parse the config once from context, add cdk-nag, build the stacks.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, parseConfig } from '../lib/config.ts';
import { createStacks } from '../lib/create-stacks.ts';

const app = new App();
try {
  const { config, notes } = parseConfig(app.node.getAllContext(), process.env);
  for (const note of notes) console.error(`raiden: ${note}`);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  createStacks(app, config);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
