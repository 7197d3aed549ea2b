import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DEFAULT_METRICS_NAMESPACE, ENV } from '../../../orchestrator/src/contract/deployed-names.ts';
import { RESPONSE_CACHE_ENV, RESPONSE_CACHE_PREFIX } from '../../../orchestrator/src/contract/response-cache.ts';
import { DEFAULT_TEMP_PREFIX as TEMP_PREFIX, RUNS_PREFIX } from '../../../orchestrator/src/contract/run-layout.ts';
import type { ServerSpec } from '../../fleet-layout.ts';
import {
  BATCH_JOB_ACTIONS,
  BATCH_SERVICE_LIST_ACTIONS,
  BATCH_SERVICE_OBJECT_ACTIONS,
  EXECUTION_DESCRIBE_ACTIONS,
  FLEET_ACTIVITY_ACTIONS,
  FLEET_DESCRIBE_ACTIONS,
  FLEET_SCALE_ACTIONS,
  MAP_RUN_OBJECT_ACTIONS,
  PASS_ROLE_ACTIONS,
  PROFILE_READ_ACTIONS,
  RESPONSE_CACHE_LIST_ACTIONS,
  RESPONSE_CACHE_OBJECT_ACTIONS,
  RUN_LIST_ACTIONS,
  RUN_OBJECT_ACTIONS,
} from '../../iam-actions.ts';
import { acknowledgeWildcardResource } from '../../nag-acknowledgements.ts';
import { bedrockModelArns } from '../bedrock-access/index.ts';
import { OrchestratorFunction, type OrchestratorNetwork } from '../orchestrator-function/index.ts';
import { buildWorkflowDefinition, DEFAULT_EXECUTION_TIMEOUT, FUNCTION_TIMEOUTS, type WorkflowFunctions } from './definition.ts';

/** The GPU fleet as the workflow drives it. */
export interface WorkflowFleet {
  readonly autoScalingGroupName: string;
  readonly servers: readonly ServerSpec[];
  readonly apiKeySecret: secretsmanager.ISecret;
}

export interface WorkflowSettings {
  /**
   * Default of the input's readinessTimeoutMinutes: how long FleetStatus waits for every server.
   * @default 45
   */
  readonly readinessTimeoutMinutes?: number;
  /**
   * Default Bedrock model of the input's bedrockModel.
   * @default - the handlers' built-in default
   */
  readonly bedrockModel?: string;
  /**
   * Time between two readiness checks.
   * @default Duration.seconds(30)
   */
  readonly pollInterval?: Duration;
  /**
   * Longest a run may take before Step Functions stops it (the teardown backstop then scales the fleet in). A run
   * with bedrockBatchInference needs at least 27 hours: a batch job may run 24 hours, and 3 more follow it.
   * @default Duration.hours(30)
   */
  readonly executionTimeout?: Duration;
  /**
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

export interface GenerationWorkflowProps {
  /** Physical name of the state machine; fixed so the CLI can find it and it can list its own executions. */
  readonly stateMachineName: string;
  readonly network: OrchestratorNetwork;
  readonly buckets: { readonly inputs: s3.IBucket; readonly outputs: s3.IBucket };
  readonly fleet: WorkflowFleet;
  /** Lets GenerateBatch, Finalize and the batch service role call the configured Bedrock models. */
  readonly bedrockPolicy: iam.IManagedPolicy;
  /** The models bedrockPolicy grants (model ids, inference profile ids or ARNs): batch jobs name only these. */
  readonly bedrockModelIds: readonly string[];
  /**
   * @default - see WorkflowSettings
   */
  readonly settings?: WorkflowSettings;
}

/** Name of the metrics namespace the handlers write to (EMF). */
export const METRICS_NAMESPACE = DEFAULT_METRICS_NAMESPACE;

/**
 * The generation workflow: its six Lambdas and the Step Functions state machine that runs them (Plan,
 * Run with FleetUp / Generate / Finalize, FleetDown), with logging and X-Ray tracing.
 */
export class GenerationWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly functions: WorkflowFunctions;
  /** ARN of the auto-scaling group the workflow scales. */
  readonly autoScalingGroupArn: string;

  constructor(scope: Construct, id: string, props: GenerationWorkflowProps) {
    super(scope, id);
    // ResultWriterV2 renders the Map Run result writer without the deprecated fields.
    this.node.setContext('@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2', true);
    const stack = Stack.of(this);
    const settings = props.settings ?? {};
    const logRetention = settings.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const { outputs, inputs } = props.buckets;

    const environment = {
      [ENV.outputsBucket]: outputs.bucketName,
      [ENV.tempPrefix]: TEMP_PREFIX,
      [ENV.autoScalingGroup]: props.fleet.autoScalingGroupName,
      [ENV.servers]: JSON.stringify(
        props.fleet.servers.map((server) => ({ name: server.name, port: server.port, model: server.model, dp: server.dp })),
      ),
      [ENV.readinessTimeoutMinutes]: String(settings.readinessTimeoutMinutes ?? 45),
      [ENV.metricsNamespace]: METRICS_NAMESPACE,
      ...(settings.bedrockModel !== undefined ? { [ENV.bedrockModel]: settings.bedrockModel } : {}),
    };
    // Bedrock batch jobs read their input and write their output as this role, under the runs' temporary prefix.
    const batchServiceRole = new iam.Role(this, 'BatchInferenceServiceRole', {
      description: 'raiden: Bedrock batch inference reads the job input and writes its output in the outputs bucket',
      assumedBy: new iam.ServicePrincipal('bedrock.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'bedrock', resource: 'model-invocation-job', resourceName: '*' }) },
        },
      }),
    });
    const batchFiles = `${TEMP_PREFIX}${RUNS_PREFIX}*`;
    grantStatements(
      batchServiceRole,
      [
        new iam.PolicyStatement({
          sid: 'BatchFiles',
          actions: BATCH_SERVICE_OBJECT_ACTIONS,
          resources: [outputs.arnForObjects(batchFiles)],
        }),
        new iam.PolicyStatement({
          sid: 'ListBatchFiles',
          actions: BATCH_SERVICE_LIST_ACTIONS,
          resources: [outputs.bucketArn],
          conditions: { StringLike: { 's3:prefix': [batchFiles] } },
        }),
      ],
      'Batch inference files of a run (tmp/runs/<run id>/bedrock-batch/...): run ids are made at run time.',
    );
    // The job invokes the model as this role: the deployment's model grant, which names an inference profile
    // together with its foundation model in each Region of the profile, as a profile grant must:
    // https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html
    // https://docs.aws.amazon.com/bedrock/latest/userguide/batch-iam-sr.html
    batchServiceRole.addManagedPolicy(props.bedrockPolicy);
    const functionScope = new Construct(this, 'Functions');
    const make = (
      name: keyof WorkflowFunctions,
      handler: string,
      description: string,
      extra: { memorySize?: number; apiKey?: boolean; environment?: Record<string, string> } = {},
    ) =>
      new OrchestratorFunction(functionScope, name.charAt(0).toUpperCase() + name.slice(1), {
        handler,
        description,
        network: props.network,
        timeout: FUNCTION_TIMEOUTS[name],
        memorySize: extra.memorySize,
        logRetention,
        environment: {
          ...environment,
          ...(extra.apiKey ? { [ENV.apiKeySecret]: props.fleet.apiKeySecret.secretArn } : {}),
          ...extra.environment,
        },
        ...(extra.apiKey ? { apiKeySecret: props.fleet.apiKeySecret } : {}),
      }).function;
    this.functions = {
      plan: make('plan', 'plan', 'raiden Plan: validate the input, read profiles, write the batch manifest and estimate', {
        memorySize: 2048,
      }),
      fleetUp: make('fleetUp', 'fleet-up', 'raiden FleetUp: raise the GPU fleet for a run'),
      fleetStatus: make('fleetStatus', 'fleet-status', "raiden FleetStatus: poll every server's /health_generate", { apiKey: true }),
      generateBatch: make('generateBatch', 'generate-batch', 'raiden GenerateBatch: fill one batch of slots on SGLang or Bedrock', {
        memorySize: 1024,
        apiKey: true,
        environment: { [RESPONSE_CACHE_ENV]: RESPONSE_CACHE_PREFIX },
      }),
      finalize: make('finalize', 'finalize', 'raiden Finalize: merge, split, stats, evaluation and report', { memorySize: 2048 }),
      fleetDown: make('fleetDown', 'fleet-down', 'raiden FleetDown: scale the GPU fleet to zero'),
      batchInference: make('batchInference', 'batch-inference', 'raiden batch inference: Bedrock batch jobs for the open slots', {
        memorySize: 2048,
        environment: { [ENV.bedrockBatchRoleArn]: batchServiceRole.roleArn },
      }),
    };

    const runObjects = [outputs.arnForObjects(`${RUNS_PREFIX}*`), outputs.arnForObjects(`${TEMP_PREFIX}*`)];
    const runAccess = [
      new iam.PolicyStatement({ sid: 'RunObjects', actions: RUN_OBJECT_ACTIONS, resources: runObjects }),
      new iam.PolicyStatement({
        sid: 'ListRunObjects',
        actions: RUN_LIST_ACTIONS,
        resources: [outputs.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${RUNS_PREFIX}*`, `${TEMP_PREFIX}*`] } },
      }),
    ];
    grantStatements(this.functions.plan, [
      ...runAccess,
      new iam.PolicyStatement({ sid: 'ReadProfiles', actions: PROFILE_READ_ACTIONS, resources: [inputs.arnForObjects('*')] }),
    ]);
    grantStatements(this.functions.generateBatch, runAccess);
    grantStatements(
      this.functions.generateBatch,
      [
        new iam.PolicyStatement({
          sid: 'ResponseCache',
          actions: RESPONSE_CACHE_OBJECT_ACTIONS,
          resources: [outputs.arnForObjects(`${RESPONSE_CACHE_PREFIX}*`)],
        }),
        new iam.PolicyStatement({
          sid: 'ListResponseCache',
          actions: RESPONSE_CACHE_LIST_ACTIONS,
          resources: [outputs.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${RESPONSE_CACHE_PREFIX}*`] } },
        }),
      ],
      'Entries of the response cache (cache/responses/<key>): keys are hashes of requests, made at run time.',
    );
    grantStatements(this.functions.finalize, runAccess);
    grantStatements(this.functions.batchInference, runAccess);
    const batchModelArns = bedrockModelArns(props.bedrockModelIds, stack.partition, stack.region, stack.account);
    grantStatements(
      this.functions.batchInference,
      [
        // CreateModelInvocationJob authorizes on the job and on the model it names (an inference profile, and the
        // profile's foundation models): https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-permissions.html
        new iam.PolicyStatement({
          sid: 'BatchJobs',
          actions: BATCH_JOB_ACTIONS,
          resources: [
            stack.formatArn({ service: 'bedrock', resource: 'model-invocation-job', resourceName: '*' }),
            ...batchModelArns.direct,
            ...batchModelArns.viaProfiles,
          ],
        }),
        new iam.PolicyStatement({
          sid: 'PassBatchRole',
          actions: PASS_ROLE_ACTIONS,
          resources: [batchServiceRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'bedrock.amazonaws.com' } },
        }),
      ],
      'Batch job ids are made per run; a cross-region inference profile serves its model from several Regions, hence the Region wildcard on the configured models only.',
    );
    const batchRole = this.functions.batchInference.role;
    for (const arn of batchModelArns.viaProfiles) {
      if (batchRole !== undefined)
        acknowledgeWildcardResource(
          batchRole,
          arn,
          'A cross-region inference profile serves this configured model from several Regions, hence the Region wildcard.',
        );
    }
    // Plan: is the execution that holds a run's writer lease still running?
    grantStatements(
      this.functions.plan,
      [
        new iam.PolicyStatement({
          sid: 'DescribeLeaseHolder',
          actions: EXECUTION_DESCRIBE_ACTIONS,
          resources: [
            stack.formatArn({
              service: 'states',
              resource: 'execution',
              resourceName: `${props.stateMachineName}:*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      ],
      'Executions of this state machine: their names are made at run time.',
    );
    // GenerateBatch writes and judges on Bedrock; Finalize evaluates the iterative strategy's output.
    this.functions.generateBatch.role?.addManagedPolicy(props.bedrockPolicy);
    this.functions.finalize.role?.addManagedPolicy(props.bedrockPolicy);
    this.autoScalingGroupArn = stack.formatArn({
      service: 'autoscaling',
      resource: 'autoScalingGroup',
      resourceName: `*:autoScalingGroupName/${props.fleet.autoScalingGroupName}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // FleetStatus scales too: a group whose launches keep failing is set back to zero before the run fails.
    const scalers = [this.functions.fleetUp, this.functions.fleetStatus, this.functions.fleetDown];
    for (const fn of [...scalers, this.functions.generateBatch]) {
      grantFleetAccess(fn, this.autoScalingGroupArn, scalers.includes(fn));
    }
    this.functions.fleetStatus.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ReadScalingActivities', actions: FLEET_ACTIVITY_ACTIONS, resources: ['*'] }),
    );

    const stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: props.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const executionTimeout = settings.executionTimeout ?? DEFAULT_EXECUTION_TIMEOUT;
    const logGroup = new logs.LogGroup(this, 'ExecutionLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      comment: 'raiden-datagen: generate a RAIDEN-R1 dataset from profiles on SGLang or Bedrock; always scales the GPU fleet back down',
      definitionBody: sfn.DefinitionBody.fromChainable(
        buildWorkflowDefinition(this, {
          functions: this.functions,
          mapResultsPrefix: `${TEMP_PREFIX}map-results/`,
          stateMachineArn,
          pollInterval: settings.pollInterval ?? Duration.seconds(30),
          executionTimeout,
        }),
      ),
      timeout: executionTimeout,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    acknowledgeStateMachineWildcards(this.stateMachine, this.functions);
    grantStatements(this.stateMachine.role, [
      new iam.PolicyStatement({
        sid: 'ManifestAndMapResults',
        actions: MAP_RUN_OBJECT_ACTIONS,
        resources: [outputs.arnForObjects(`${TEMP_PREFIX}*`)],
      }),
    ]);
  }
}

function grantFleetAccess(fn: lambda.IFunction, groupArn: string, scales: boolean): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'DescribeFleet', actions: FLEET_DESCRIBE_ACTIONS, resources: ['*'] }));
  if (!scales) return;
  fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ScaleFleet', actions: FLEET_SCALE_ACTIONS, resources: [groupArn] }));
  if (fn.role !== undefined) {
    acknowledgeWildcardResource(
      fn.role,
      groupArn,
      'The wildcard is the generated id inside an auto-scaling group ARN; the group name pins the one group.',
    );
  }
}

/** Object access under the run prefixes (or another prefix, with its reason): object keys are made per run and unknown at deploy time. */
function grantStatements(
  fn: lambda.IFunction | iam.IRole,
  statements: iam.PolicyStatement[],
  reason = 'Objects under a run prefix of a run bucket (runs/<run id>/..., tmp/runs/<run id>/..., or the profile files of the inputs bucket): keys are made per run and unknown at deploy time.',
): void {
  const role = 'roleArn' in fn ? fn : fn.role;
  if (role === undefined) return;
  for (const statement of statements) {
    role.addToPrincipalPolicy(statement);
    for (const resource of statement.resources.filter((arn) => arn.endsWith('*'))) {
      acknowledgeWildcardResource(role, resource, reason);
    }
  }
}

function acknowledgeStateMachineWildcards(stateMachine: sfn.StateMachine, functions: WorkflowFunctions): void {
  for (const fn of Object.values(functions)) {
    acknowledgeWildcardResource(
      stateMachine.role,
      `${fn.functionArn}:*`,
      'CDK grants invoking every version and alias of each workflow Lambda; the function itself is fixed.',
    );
  }
  acknowledgeWildcardResource(
    stateMachine.role,
    '*',
    'Only actions without resource-level permissions: X-Ray PutTraceSegments, PutTelemetryRecords and GetSampling*, and ' +
      'the CloudWatch Logs vended-log delivery actions (CreateLogDelivery, DescribeLogGroups, PutResourcePolicy, ...) ' +
      'that state machine logging needs. No S3 action: the Map results writer grants nothing itself (see PrefixResultWriter in definition.ts).',
  );
  const distributedMapPolicy = stateMachine.node.tryFindChild('DistributedMapPolicy');
  if (distributedMapPolicy instanceof iam.Policy) {
    const statements = (distributedMapPolicy.document.toJSON() as { Statement?: { Resource?: unknown }[] } | undefined)?.Statement ?? [];
    for (const resource of statements.flatMap((statement) => [statement.Resource ?? []].flat())) {
      if (!JSON.stringify(resource).includes('*')) continue;
      acknowledgeWildcardResource(
        distributedMapPolicy,
        resource as string,
        "CDK's Distributed Map policy: the wildcard is the child executions of this state machine's own Map Runs, created per run.",
      );
    }
  }
}

export type { WorkflowFunctions };
