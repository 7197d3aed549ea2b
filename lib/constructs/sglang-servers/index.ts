import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { UserData } from 'aws-cdk-lib/aws-ec2';
import type { ServerSpec } from '../../fleet-layout.ts';
import { parseModelSource } from '../../model-source.ts';
import { LOG_WRITE_ACTIONS, SECRET_READ_ACTIONS, WEIGHTS_LIST_ACTIONS, WEIGHTS_READ_ACTIONS } from '../../iam-actions.ts';
import { acknowledgeWildcardResource } from '../../nag-acknowledgements.ts';
import { renderUserData } from './user-data.ts';
import { stagedWeightsPrefix } from '../../../orchestrator/src/contract/deployed-names.ts';

export interface SglangRuntime {
  /** `docker` runs the container image; `pip` installs the pinned version into a virtualenv. */
  readonly kind: 'docker' | 'pip';
  readonly image: string;
  readonly pipVersion: string;
}

export interface SglangLifecycle {
  /** Minutes without running or queued requests before an instance scales itself in. */
  readonly idleMinutes: number;
  /** Hours after boot at which an instance scales itself in, busy or not. */
  readonly maxHours: number;
  /** Minutes the boot script waits for every server's /health_generate before it gives up. */
  readonly healthTimeoutMinutes: number;
}

export interface SglangServersProps {
  /** The validated server layout (see lib/fleet-layout.ts). */
  readonly servers: readonly ServerSpec[];
  readonly runtime: SglangRuntime;
  readonly lifecycle: SglangLifecycle;
  /** Name of the bucket that `weights:<prefix>` model references point into. */
  readonly weightsBucketName: string;
  /**
   * SGLang's --mem-fraction-static and, when set, --context-length.
   * @default - { memFractionStatic: 0.85 }
   */
  readonly serving?: { readonly memFractionStatic: number; readonly contextLength?: number };
  /**
   * Name of a Secrets Manager secret (plain string) with a Hugging Face token, for gated models.
   * @default - no token
   */
  readonly hfTokenSecretName?: string;
  /**
   * Retention of the server logs.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * What the SGLang servers need besides the machine: the API key they require from clients, the log
 * group they write to, and the boot script (user-data) that stages weights and starts them.
 */
export class SglangServers extends Construct {
  readonly servers: readonly ServerSpec[];
  /** Generated API key every server requires (`Authorization: Bearer <key>`). */
  readonly apiKeySecret: secretsmanager.Secret;
  readonly logGroup: logs.LogGroup;
  readonly userData: ec2.UserData;
  private readonly hfTokenSecret?: secretsmanager.ISecret;
  private readonly weightsBucketName: string;

  constructor(scope: Construct, id: string, props: SglangServersProps) {
    super(scope, id);
    this.servers = props.servers;
    this.weightsBucketName = props.weightsBucketName;
    this.apiKeySecret = new secretsmanager.Secret(this, 'ApiKey', {
      description: 'API key of the raiden SGLang servers (--api-key)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.apiKeySecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The SGLang API key is read once at server start and only admits callers that the security group ' +
        'already limits to the orchestrator; rotating it needs a server restart, which a redeploy or the ' +
        'next scale-up already does.',
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    if (props.hfTokenSecretName) {
      this.hfTokenSecret = secretsmanager.Secret.fromSecretNameV2(this, 'HfToken', props.hfTokenSecretName);
    }
    const serving = props.serving ?? { memFractionStatic: 0.85 };
    this.userData = UserData.custom(
      renderUserData({
        region: Stack.of(this).region,
        logGroupName: this.logGroup.logGroupName,
        apiKeySecretArn: this.apiKeySecret.secretArn,
        hfTokenSecretId: this.hfTokenSecret?.secretName,
        weightsBucketName: props.weightsBucketName,
        servers: props.servers,
        runtime: props.runtime.kind,
        image: props.runtime.image,
        pipVersion: props.runtime.pipVersion,
        memFractionStatic: serving.memFractionStatic,
        contextLength: serving.contextLength,
        idleMinutes: props.lifecycle.idleMinutes,
        maxHours: props.lifecycle.maxHours,
        healthTimeoutMinutes: props.lifecycle.healthTimeoutMinutes,
      }),
    );
  }

  /** The permissions the boot script needs: read the weights (staged copies included) and the secrets, write the logs. */
  grantToInstances(role: iam.IRole): void {
    const secretArns = [this.apiKeySecret.secretArn, ...(this.hfTokenSecret ? [this.hfTokenSecret.secretArn] : [])];
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadServerSecrets', actions: SECRET_READ_ACTIONS, resources: secretArns }));
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'WriteServerLogs', actions: LOG_WRITE_ACTIONS, resources: [this.logGroup.logGroupArn] }),
    );
    const prefixes = this.weightPrefixes();
    prefixes.forEach(({ bucketArn, prefix }, i) => {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: `ListWeights${i}`,
          actions: WEIGHTS_LIST_ACTIONS,
          resources: [bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${prefix}/*`, prefix] } },
        }),
      );
      const objects = `${bucketArn}/${prefix}/*`;
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: `ReadWeights${i}`, actions: WEIGHTS_READ_ACTIONS, resources: [objects] }));
      acknowledgeWildcardResource(role, objects, `The objects of one model's weights, the prefix ${prefix}/ and nothing else.`);
    });
  }

  private weightPrefixes(): { bucketArn: string; prefix: string }[] {
    const partition = Stack.of(this).partition;
    const weightsBucketArn = `arn:${partition}:s3:::${this.weightsBucketName}`;
    const seen = new Set<string>();
    const result: { bucketArn: string; prefix: string }[] = [];
    for (const server of this.servers) {
      const source = parseModelSource(server.model);
      if (!source || seen.has(server.model)) continue;
      seen.add(server.model);
      if (source.kind === 'huggingface') {
        // Where `raiden weights stage` may have copied it; the boot reads it from there when it has.
        result.push({ bucketArn: weightsBucketArn, prefix: stagedWeightsPrefix(source.id) });
        continue;
      }
      const bucketArn = source.kind === 'weights-bucket' ? weightsBucketArn : `arn:${partition}:s3:::${source.bucket}`;
      result.push({ bucketArn, prefix: source.prefix });
    }
    return result;
  }
}
