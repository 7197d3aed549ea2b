import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { BEDROCK_INVOKE_ACTIONS } from '../../iam-actions.ts';
import { acknowledgeWildcardResource } from '../../nag-acknowledgements.ts';

/** Geographic prefixes of cross-region inference profile ids, for example `us.` in us.anthropic.claude-... */
const INFERENCE_PROFILE_PREFIXES = ['us', 'eu', 'apac', 'jp', 'au', 'ca', 'us-gov', 'global'];

export interface BedrockAccessProps {
  /**
   * Foundation-model ids (anthropic.claude-...), cross-region inference profile ids (us.anthropic...)
   * or full Bedrock ARNs the orchestrator may call.
   */
  readonly modelIds: readonly string[];
}

export interface BedrockModelArns {
  /** Inference-profile and in-region foundation-model ARNs, callable directly. */
  readonly direct: string[];
  /** Foundation-model ARNs in any region, callable only through the listed inference profiles. */
  readonly viaProfiles: string[];
  readonly profiles: string[];
}

/**
 * A managed policy that lets its holder call Converse / InvokeModel (and their streaming forms) on the
 * configured models only. The orchestrator's Lambdas get it.
 */
export class BedrockAccess extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: BedrockAccessProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const arns = bedrockModelArns(props.modelIds, stack.partition, stack.region, stack.account);
    const statements = [
      new iam.PolicyStatement({ sid: 'InvokeConfiguredModels', actions: BEDROCK_INVOKE_ACTIONS, resources: arns.direct }),
    ];
    if (arns.viaProfiles.length > 0) {
      // A cross-region profile routes to the model in several regions; a grant on a profile must also name the
      // foundation model in each Region of the profile, allowed here only through the profile:
      // https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html
      statements.push(
        new iam.PolicyStatement({
          sid: 'InvokeModelsThroughProfiles',
          actions: BEDROCK_INVOKE_ACTIONS,
          resources: arns.viaProfiles,
          conditions: { StringEquals: { 'bedrock:InferenceProfileArn': arns.profiles } },
        }),
      );
    }
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: `Invoke only the configured Bedrock models: ${props.modelIds.join(', ')}`.slice(0, 1000),
      statements,
    });
    for (const arn of arns.viaProfiles) {
      acknowledgeWildcardResource(
        this.policy,
        arn,
        'A cross-region inference profile serves this model from several regions, hence the region wildcard; ' +
          'the bedrock:InferenceProfileArn condition allows it only through the configured profiles.',
      );
    }
  }
}

/** The ARNs a list of Bedrock model ids grants. Pure, for tests. */
export function bedrockModelArns(modelIds: readonly string[], partition: string, region: string, account: string): BedrockModelArns {
  const direct: string[] = [];
  const viaProfiles: string[] = [];
  const profiles: string[] = [];
  for (const id of modelIds) {
    if (id.startsWith('arn:')) {
      direct.push(id);
      continue;
    }
    const [prefix = '', ...rest] = id.split('.');
    if (INFERENCE_PROFILE_PREFIXES.includes(prefix) && rest.length >= 2) {
      const profileArn = `arn:${partition}:bedrock:${region}:${account}:inference-profile/${id}`;
      const modelId = rest.join('.');
      direct.push(profileArn);
      profiles.push(profileArn);
      viaProfiles.push(`arn:${partition}:bedrock:*::foundation-model/${modelId}`);
      if (prefix === 'global') viaProfiles.push(`arn:${partition}:bedrock:::foundation-model/${modelId}`);
    } else {
      direct.push(`arn:${partition}:bedrock:${region}::foundation-model/${id}`);
    }
  }
  return { direct, viaProfiles, profiles };
}
