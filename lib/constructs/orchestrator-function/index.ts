import { dirname, join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledgeManagedPolicy, acknowledgeWildcardResource } from '../../nag-acknowledgements.ts';

/** Node.js 22: the runtime the orchestrator is written and tested for (engines >= 22.13). */
export const ORCHESTRATOR_RUNTIME = lambda.Runtime.NODEJS_22_X;
const PROJECT_ROOT = join(import.meta.dirname, '../../..');
const HANDLERS_DIR = join(PROJECT_ROOT, 'orchestrator/src/handlers');
/**
 * Copied into every bundle: each file from the project root to its path in the bundle, where the code finds
 * it beside itself (report-html.ts reads page/ and chart.umd.min.js from its own folder, run-export.ts the
 * reward function).
 */
export const BUNDLED_FILES: readonly { readonly from: string; readonly to: string }[] = [
  { from: 'orchestrator/src/core/export/raiden_reward.py', to: 'raiden_reward.py' },
  { from: 'node_modules/chart.js/dist/chart.umd.min.js', to: 'chart.umd.min.js' },
  ...['report.html', 'report.css', 'report.js'].map((name) => ({ from: `orchestrator/src/core/report/page/${name}`, to: `page/${name}` })),
];

/** The shell commands that lay BUNDLED_FILES out in a bundle's output directory. */
export function bundledFileCommands(outputDir: string): string[] {
  const folders = [...new Set(BUNDLED_FILES.map((file) => dirname(join(outputDir, file.to))))];
  return [
    ...folders.map((folder) => `mkdir -p ${JSON.stringify(folder)}`),
    ...BUNDLED_FILES.map((file) => `cp ${JSON.stringify(join(PROJECT_ROOT, file.from))} ${JSON.stringify(join(outputDir, file.to))}`),
  ];
}

/** Where the orchestrator's Lambdas run: the fleet's VPC, with the security group the fleet admits. */
export interface OrchestratorNetwork {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
}

export interface OrchestratorFunctionProps {
  /** File name of the handler under orchestrator/src/handlers, without `.ts`, e.g. `generate-batch`. */
  readonly handler: string;
  readonly description: string;
  readonly network: OrchestratorNetwork;
  readonly environment: Record<string, string>;
  /**
   * @default Duration.minutes(1)
   */
  readonly timeout?: Duration;
  /**
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * The SGLang API key, read at run time through the Parameters and Secrets extension (layer added).
   * @default - the function reads no secret
   */
  readonly apiKeySecret?: secretsmanager.ISecret;
  /**
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * One thin Lambda over orchestrator/src/core: bundled by esbuild (NodejsFunction, no Docker), Node.js 22,
 * in the VPC so it reaches the fleet's private addresses, X-Ray tracing, its own log group.
 */
export class OrchestratorFunction extends Construct {
  readonly function: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: OrchestratorFunctionProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: join(HANDLERS_DIR, `${props.handler}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: ORCHESTRATOR_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      timeout: props.timeout ?? Duration.minutes(1),
      memorySize: props.memorySize ?? 512,
      vpc: props.network.vpc,
      vpcSubnets: props.network.subnets,
      securityGroups: [props.network.securityGroup],
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      ...(props.apiKeySecret !== undefined
        ? {
            paramsAndSecrets: lambda.ParamsAndSecretsLayerVersion.fromVersion(lambda.ParamsAndSecretsVersions.V1_0_103, {
              cacheEnabled: true,
            }),
          }
        : {}),
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        // Some dependencies still call require(); give the ES module bundle one.
        banner: "import { createRequire as __raidenRequire } from 'node:module'; const require = __raidenRequire(import.meta.url);",
        minify: true,
        sourceMap: true,
        // Bundle the SDK version the tests ran against instead of whatever the runtime ships.
        bundleAwsSDK: true,
        // Files the code reads beside itself at run time: the reward function every export carries, and the
        // report page's files and the chart library report.html inlines.
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => bundledFileCommands(outputDir),
        },
      },
    });
    props.apiKeySecret?.grantRead(this.function);

    const role = this.function.role;
    if (role !== undefined) {
      for (const policy of ['service-role/AWSLambdaBasicExecutionRole', 'service-role/AWSLambdaVPCAccessExecutionRole']) {
        acknowledgeManagedPolicy(
          role,
          iam.ManagedPolicy.fromAwsManagedPolicyName(policy).managedPolicyArn,
          'The AWS-maintained minimum for a Lambda to write its logs and attach to the VPC (network interfaces); an inline copy would drift from what the service needs.',
        );
      }
      acknowledgeWildcardResource(
        role,
        '*',
        'X-Ray PutTraceSegments/PutTelemetryRecords and ec2/autoscaling Describe* calls support no resource-level permissions.',
      );
    }
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to Node.js 22 on purpose: the handlers, their bundle target and the local workflow tests (aws-local-stepfunctions) all run on Node.js 22.',
    });
  }
}
