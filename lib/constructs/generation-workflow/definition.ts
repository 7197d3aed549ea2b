/**
 * The state machine of DESIGN.md section 5, as CDK states:
 *
 *   Start -> Plan -> Run (Parallel, Catch -> TeardownRequested)
 *                      SeedPhase? -> Seed (Distributed Map over the seed manifest, iterative) -> SeedBatch
 *                      BatchInference? -> SubmitBatchJobs -> WaitForBatchJobs -> BatchJobsStatus -> BatchJobsDone? (loop)
 *                                         -> CollectBatchResults
 *                      NeedsFleet? -> FleetUp -> WaitForFleet -> FleetStatus -> FleetReady? (loop)
 *                      HasBatches? -> Generate (Distributed Map over the manifest) -> GenerateBatch
 *                      Finalize
 *
 * The fleet is raised only after the Bedrock phases (seeds, batch jobs): raised before them, it would sit idle
 * through them and the instances' idle watchdog would scale it in before Generate used it. FleetStatus is the
 * last state before Generate, so Generate starts on servers that answered a generate request just now.
 *            -> TeardownRequested? (keep) -> OtherExecutions -> OthersRunning? -> FleetDown -> Outcome
 *            -> Outcome: RunFailed (the original error) | FleetDownFailed | Succeeded
 *
 * Plan's own Catch joins the same teardown path, so every failure before or inside Run reaches FleetDown.
 */
import { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { EXECUTION_LIST_ACTIONS } from '../../iam-actions.ts';

export interface WorkflowFunctions {
  readonly plan: lambda.IFunction;
  readonly fleetUp: lambda.IFunction;
  readonly fleetStatus: lambda.IFunction;
  readonly generateBatch: lambda.IFunction;
  readonly finalize: lambda.IFunction;
  readonly fleetDown: lambda.IFunction;
  /** Bedrock batch inference for the run's open slots: submit, status and collect. */
  readonly batchInference: lambda.IFunction;
}

export interface WorkflowDefinitionProps {
  readonly functions: WorkflowFunctions;
  /** Prefix for the Map Run results; temporary (expired by the bucket's lifecycle rule). */
  readonly mapResultsPrefix: string;
  /** ARN of the state machine itself, for ListExecutions. */
  readonly stateMachineArn: string;
  readonly pollInterval: Duration;
  /** The state machine's timeout: a batch job must end before it, and polling for it must fit the history quota. */
  readonly executionTimeout: Duration;
}

/**
 * Default execution timeout: Bedrock runs a batch job for up to 24 hours at the least (timeoutDurationInHours
 * 24 to 168, https://docs.aws.amazon.com/bedrock/latest/APIReference/API_CreateModelInvocationJob.html), and the
 * run needs time after it to collect, generate what the job left and finalize.
 */
export const DEFAULT_EXECUTION_TIMEOUT = Duration.hours(30);

/** The Lambdas' timeouts: each Task waits a little longer than its function may run. */
export const FUNCTION_TIMEOUTS = {
  plan: Duration.minutes(5),
  fleetUp: Duration.minutes(1),
  fleetStatus: Duration.minutes(1),
  generateBatch: Duration.minutes(15),
  finalize: Duration.minutes(15),
  fleetDown: Duration.minutes(1),
  batchInference: Duration.minutes(15),
} as const;

function invoke(
  scope: Construct,
  id: string,
  fn: lambda.IFunction,
  timeout: Duration,
  payload: Record<string, unknown>,
  resultPath: string,
): tasks.LambdaInvoke {
  return new tasks.LambdaInvoke(scope, id, {
    lambdaFunction: fn,
    // The function's return value is the task's result: no SDK envelope to unwrap in every state.
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject(payload),
    resultPath,
    taskTimeout: sfn.Timeout.duration(timeout.plus(Duration.seconds(30))),
  });
}

/**
 * The Map Run results writer, without the grant CDK attaches to it: given a bucket by path, ResultWriterV2
 * grants s3:PutObject, GetObject, ListMultipartUploadParts and AbortMultipartUpload on "*", every object in
 * every bucket. The workflow construct grants those actions on the temporary prefix of the outputs bucket
 * instead (ManifestAndMapResults), which is where mapResultsPrefix points.
 */
class PrefixResultWriter extends sfn.ResultWriterV2 {
  override providePolicyStatements(): iam.PolicyStatement[] {
    return [];
  }
}

interface BatchMapSettings {
  readonly comment: string;
  readonly label: string;
  readonly manifestKeyPath: string;
  readonly maxConcurrencyPath: string;
}

/** A Distributed Map over a manifest of Plan's, one GenerateBatch invocation (state `taskId`) per batch. */
function batchMap(
  scope: Construct,
  id: string,
  taskId: string,
  fn: lambda.IFunction,
  props: WorkflowDefinitionProps,
  settings: BatchMapSettings,
): sfn.DistributedMap {
  const task = new tasks.LambdaInvoke(scope, taskId, {
    lambdaFunction: fn,
    payloadResponseOnly: true,
    taskTimeout: sfn.Timeout.duration(FUNCTION_TIMEOUTS.generateBatch.plus(Duration.seconds(30))),
  });
  // Out of Lambda time with slots left: the next invocation resumes from the samples already in S3.
  task.addRetry({ errors: ['BatchIncomplete'], interval: Duration.seconds(1), backoffRate: 1, maxAttempts: 20 });
  // A crashed or timed-out invocation resumes the same way; a backend hiccup gets a few slower tries.
  task.addRetry({ errors: ['Lambda.Unknown', 'States.Timeout'], interval: Duration.seconds(5), maxAttempts: 2 });
  task.addRetry({ errors: ['BackendUnavailable'], interval: Duration.seconds(30), backoffRate: 2, maxAttempts: 3 });
  const map = new sfn.DistributedMap(scope, id, {
    comment: settings.comment,
    label: settings.label,
    // The bucket by path: the construct's own policy grants only the temporary prefix (see MapRunBuckets).
    itemReader: new sfn.S3JsonLItemReader({
      bucketNamePath: sfn.JsonPath.stringAt('$.plan.bucket'),
      key: sfn.JsonPath.stringAt(settings.manifestKeyPath),
    }),
    itemSelector: { runId: sfn.JsonPath.stringAt('$.plan.runId'), batch: sfn.JsonPath.objectAt('$$.Map.Item.Value') },
    maxConcurrencyPath: sfn.JsonPath.stringAt(settings.maxConcurrencyPath),
    toleratedFailurePercentagePath: sfn.JsonPath.stringAt('$.plan.toleratedFailurePercent'),
    resultWriterV2: new PrefixResultWriter({ bucketNamePath: sfn.JsonPath.stringAt('$.plan.bucket'), prefix: props.mapResultsPrefix }),
    resultPath: sfn.JsonPath.DISCARD,
  });
  map.itemProcessor(task);
  return map;
}

export function buildWorkflowDefinition(scope: Construct, props: WorkflowDefinitionProps): sfn.IChainable {
  const fns = props.functions;
  const runId = sfn.JsonPath.stringAt('$.plan.runId');

  const start = new sfn.Pass(scope, 'Start', {
    comment: 'Keeps the input apart from what the states add',
    parameters: { input: sfn.JsonPath.entirePayload },
  });
  const plan = invoke(
    scope,
    'Plan',
    fns.plan,
    FUNCTION_TIMEOUTS.plan,
    {
      input: sfn.JsonPath.objectAt('$.input'),
      execution: { id: sfn.JsonPath.executionId, name: sfn.JsonPath.executionName, startTime: sfn.JsonPath.executionStartTime },
    },
    '$.plan',
  );

  const fleetUp = invoke(
    scope,
    'FleetUp',
    fns.fleetUp,
    FUNCTION_TIMEOUTS.fleetUp,
    {
      runId,
      instances: sfn.JsonPath.numberAt('$.plan.instances'),
      readinessTimeoutSeconds: sfn.JsonPath.numberAt('$.plan.readinessTimeoutSeconds'),
    },
    '$.fleet',
  );
  const waitForFleet = new sfn.Wait(scope, 'WaitForFleet', { time: sfn.WaitTime.duration(props.pollInterval) });
  const fleetStatus = invoke(
    scope,
    'FleetStatus',
    fns.fleetStatus,
    FUNCTION_TIMEOUTS.fleetStatus,
    { runId, deadline: sfn.JsonPath.stringAt('$.fleet.deadline'), since: sfn.JsonPath.stringAt('$.fleet.startedAt') },
    '$.fleetStatus',
  );

  // iterative: the seed batches (Bedrock) all finish before the expansion batches read their samples.
  const seed = batchMap(scope, 'Seed', 'SeedBatch', fns.generateBatch, props, {
    comment: 'iterative: the seed batches, whose samples are the few-shot examples of the Generate batches',
    label: 'SeedBatches',
    manifestKeyPath: '$.plan.seedManifestKey',
    maxConcurrencyPath: '$.plan.seedMaxConcurrency',
  });
  const generate = batchMap(scope, 'Generate', 'GenerateBatch', fns.generateBatch, props, {
    comment: 'One child execution per batch of the manifest; concurrency sized by Plan to the backends',
    label: 'Batches',
    manifestKeyPath: '$.plan.manifestKey',
    maxConcurrencyPath: '$.plan.maxConcurrency',
  });
  const finalize = invoke(scope, 'Finalize', fns.finalize, FUNCTION_TIMEOUTS.finalize, { runId }, '$.finalize');
  const hasBatches = new sfn.Choice(scope, 'HasBatches', { comment: 'iterative with every profile a seed leaves Generate nothing to do' })
    .when(sfn.Condition.numberGreaterThan('$.plan.batches', 0), generate)
    .otherwise(finalize);
  // bedrockBatchInference: the open slots go to Bedrock batch jobs first (half price, hours); GenerateBatch then
  // takes their answers before calling Bedrock on demand for the rest.
  // The handler fits the job timeout inside the execution's and paces the polls to the history quota.
  const batchStep = (id: string, action: string, resultPath: string) =>
    invoke(
      scope,
      id,
      fns.batchInference,
      FUNCTION_TIMEOUTS.batchInference,
      {
        runId,
        action,
        pollSeconds: sfn.JsonPath.numberAt('$.plan.batchPollSeconds'),
        executionStartTime: sfn.JsonPath.executionStartTime,
        executionTimeoutSeconds: props.executionTimeout.toSeconds(),
      },
      resultPath,
    );
  const submitBatchJobs = batchStep('SubmitBatchJobs', 'submit', '$.batchJobs');
  const waitForBatchJobs = new sfn.Wait(scope, 'WaitForBatchJobs', { time: sfn.WaitTime.secondsPath('$.batchJobs.waitSeconds') });
  const batchJobsStatus = batchStep('BatchJobsStatus', 'status', '$.batchJobs');
  const collectBatchResults = batchStep('CollectBatchResults', 'collect', '$.batchResults');
  const batchJobsDone = new sfn.Choice(scope, 'BatchJobsDone')
    .when(sfn.Condition.booleanEquals('$.batchJobs.done', true), collectBatchResults)
    .otherwise(waitForBatchJobs);
  submitBatchJobs.next(batchJobsDone);
  waitForBatchJobs.next(batchJobsStatus);
  batchJobsStatus.next(batchJobsDone);
  const fleetReady = new sfn.Choice(scope, 'FleetReady')
    .when(sfn.Condition.booleanEquals('$.fleetStatus.ready', true), hasBatches)
    .otherwise(waitForFleet);
  fleetUp.next(waitForFleet);
  waitForFleet.next(fleetStatus);
  fleetStatus.next(fleetReady);
  generate.next(finalize);
  const needsFleet = new sfn.Choice(scope, 'NeedsFleet', { comment: 'Stand up the GPU fleet only when a batch runs on SGLang' })
    .when(sfn.Condition.booleanEquals('$.plan.needsSglang', true), fleetUp)
    .otherwise(hasBatches);

  collectBatchResults.next(needsFleet);
  const batchInference = new sfn.Choice(scope, 'BatchInference', { comment: 'Only a bedrock run with bedrockBatchInference' })
    .when(sfn.Condition.booleanEquals('$.plan.batchInference', true), submitBatchJobs)
    .otherwise(needsFleet);
  const seedPhase = new sfn.Choice(scope, 'SeedPhase', { comment: 'Only the iterative strategy has seed batches' })
    .when(sfn.Condition.numberGreaterThan('$.plan.seedBatches', 0), seed)
    .otherwise(batchInference);
  seed.next(batchInference);

  const run = new sfn.Parallel(scope, 'Run', {
    comment: 'Everything that needs the fleet; any error inside is caught so FleetDown still runs',
    resultSelector: { finalize: sfn.JsonPath.objectAt('$[0].finalize') },
    resultPath: '$.result',
  });
  run.branch(seedPhase);

  const outcome = new sfn.Choice(scope, 'Outcome')
    .when(sfn.Condition.isPresent('$.error'), new sfn.Fail(scope, 'RunFailed', { errorPath: '$.error.Error', causePath: '$.error.Cause' }))
    .when(
      sfn.Condition.isPresent('$.fleetDownError'),
      new sfn.Fail(scope, 'FleetDownFailed', { errorPath: '$.fleetDownError.Error', causePath: '$.fleetDownError.Cause' }),
    )
    .otherwise(new sfn.Succeed(scope, 'Succeeded', { outputPath: '$.result.finalize' }));

  const fleetDown = invoke(
    scope,
    'FleetDown',
    fns.fleetDown,
    FUNCTION_TIMEOUTS.fleetDown,
    { runId: sfn.JsonPath.executionName },
    '$.fleetDown',
  );
  fleetDown.addRetry({ errors: ['States.ALL'], interval: Duration.seconds(5), backoffRate: 2, maxAttempts: 4 });
  fleetDown.addCatch(outcome, { resultPath: '$.fleetDownError' });
  fleetDown.next(outcome);

  const otherExecutions = new tasks.CallAwsService(scope, 'OtherExecutions', {
    comment: 'This execution counts itself: more than one RUNNING means another run still needs the fleet',
    service: 'sfn',
    action: 'listExecutions',
    parameters: { StateMachineArn: sfn.JsonPath.stateMachineId, StatusFilter: 'RUNNING', MaxResults: 2 },
    iamResources: [props.stateMachineArn],
    iamAction: EXECUTION_LIST_ACTIONS[0],
    resultSelector: { running: sfn.JsonPath.arrayLength(sfn.JsonPath.listAt('$.Executions')) },
    resultPath: '$.executions',
  });
  // Unable to tell whether another run needs the fleet: scaling down is the safe side.
  otherExecutions.addCatch(fleetDown, { resultPath: '$.listExecutionsError' });
  const othersRunning = new sfn.Choice(scope, 'OthersRunning')
    .when(sfn.Condition.numberGreaterThan('$.executions.running', 1), outcome)
    .otherwise(fleetDown);
  otherExecutions.next(othersRunning);

  const teardownRequested = new sfn.Choice(scope, 'TeardownRequested', {
    comment: '"teardown": "keep" leaves the fleet up (its idle watchdog still applies)',
  })
    .when(
      sfn.Condition.and(
        sfn.Condition.isPresent('$.input.teardown'),
        sfn.Condition.isString('$.input.teardown'),
        sfn.Condition.stringEquals('$.input.teardown', 'keep'),
      ),
      outcome,
    )
    .otherwise(otherExecutions);

  plan.addCatch(teardownRequested, { errors: ['States.ALL'], resultPath: '$.error' });
  run.addCatch(teardownRequested, { errors: ['States.ALL'], resultPath: '$.error' });
  return start.next(plan).next(run).next(teardownRequested);
}
