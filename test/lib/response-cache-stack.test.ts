/** The response cache's infrastructure: the outputs bucket expires it, and only GenerateBatch may use it. */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthApp, type SynthesizedApp } from '../support/cdk-app.ts';

let app: SynthesizedApp;
beforeAll(() => {
  app = synthApp();
});

/** The role policies of the orchestrator's Lambdas, by the function whose role they belong to. */
function policiesOf(fn: 'GenerateBatch' | 'Finalize' | 'Plan'): string {
  const policies = Object.entries(app.orchestrator.findResources('AWS::IAM::Policy')).filter(([id]) => id.includes(fn));
  expect(policies.length).toBeGreaterThan(0);
  return JSON.stringify(policies);
}

describe('the response cache on AWS', () => {
  it('the outputs bucket expires cached answers under cache/responses/ after 30 days, and their old versions after one', () => {
    app.data.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'expire-cached-responses',
            Prefix: 'cache/responses/',
            ExpirationInDays: 30,
            NoncurrentVersionExpiration: { NoncurrentDays: 1 },
            Status: 'Enabled',
          }),
        ]),
      },
    });
  });

  it('GenerateBatch gets the prefix in its environment, reads and writes objects under it and may list only it', () => {
    app.orchestrator.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('GenerateBatch'),
      Environment: { Variables: Match.objectLike({ RAIDEN_RESPONSE_CACHE_PREFIX: 'cache/responses/' }) },
    });
    const generateBatch = policiesOf('GenerateBatch');
    expect(generateBatch).toMatch(
      /"Action":\["s3:GetObject","s3:PutObject"\],"Effect":"Allow","Resource":\{"Fn::Join":\["",\[[^\]]*"\/cache\/responses\/\*"\]\]\},"Sid":"ResponseCache"/u,
    );
    expect(generateBatch).toMatch(
      /"Action":"s3:ListBucket","Condition":\{"StringLike":\{"s3:prefix":\["cache\/responses\/\*"\]\}\}.*"Sid":"ListResponseCache"/u,
    );
  });

  it('no other Lambda touches the cache', () => {
    for (const fn of ['Finalize', 'Plan'] as const) expect(policiesOf(fn)).not.toContain('cache/responses/');
  });
});
