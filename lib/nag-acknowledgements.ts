import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag names findings about one resource of a policy (IAM4, IAM5) by that resource as it appears in the
 * template: `Ref`s as <Name>, `GetAtt`s as <Name.Attr>. These helpers build that name from the same value
 * the policy uses, so nothing hash-bearing is written by hand and any new wildcard still fails synth.
 */

/**
 * Acknowledges cdk-nag's AwsSolutions-IAM5 finding for one wildcard resource, with its own reason, next to
 * the statement that grants it.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  const finding = flattenReference(Stack.of(scope).resolve(resource));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${finding}]`, reason });
}

/** Acknowledges cdk-nag's AwsSolutions-IAM4 finding for one AWS managed policy. */
export function acknowledgeManagedPolicy(scope: IConstruct, policyArn: string, reason: string): void {
  const finding = flattenReference(Stack.of(scope).resolve(policyArn));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM4[Policy::${finding}]`, reason });
}

function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    if (Array.isArray(record['Fn::Join'])) {
      const [delimiter, items] = record['Fn::Join'] as [string, unknown[]];
      return items.map(flattenReference).join(delimiter);
    }
    if (Array.isArray(record['Fn::GetAtt'])) {
      const [resource, attribute] = record['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
    }
    if (record.Ref !== undefined) return `<${flattenReference(record.Ref)}>`;
    // A named cross-stack import appears in findings as the export name itself.
    if (typeof record['Fn::ImportValue'] === 'string') return record['Fn::ImportValue'];
  }
  return JSON.stringify(node);
}
