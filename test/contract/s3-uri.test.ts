import { describe, expect, it } from 'vitest';
import { parseS3ObjectUri, parseS3Uri, s3Uri } from '../../orchestrator/src/contract/s3-uri.ts';

describe('S3 URI parser', () => {
  it('splits an s3:// URI into bucket and key, the key possibly a prefix or empty', () => {
    expect(parseS3Uri('s3://bucket/dir/roles.jsonl')).toEqual({ bucket: 'bucket', key: 'dir/roles.jsonl' });
    expect(parseS3Uri('s3://raiden-outputs-123456789012/runs/r1/')).toEqual({ bucket: 'raiden-outputs-123456789012', key: 'runs/r1/' });
    expect(parseS3Uri('s3://my.bucket-1/')).toEqual({ bucket: 'my.bucket-1', key: '' });
    expect(parseS3Uri('s3://bucket')).toEqual({ bucket: 'bucket', key: '' });
    expect(parseS3Uri('s3://bucket/老默/roles.jsonl')).toEqual({ bucket: 'bucket', key: '老默/roles.jsonl' });
  });

  it('accepts only bucket names S3 allows: lower case, 3 to 63 characters, a letter or digit at each end', () => {
    expect(parseS3Uri(`s3://abc/k`)?.bucket).toBe('abc');
    expect(parseS3Uri(`s3://${'a'.repeat(63)}/k`)?.bucket).toBe('a'.repeat(63));
    for (const bucket of ['ab', 'a'.repeat(64), 'MyBucket', 'my_bucket', '-bucket', 'bucket-', '.bucket', 'bucket.', '']) {
      expect(parseS3Uri(`s3://${bucket}/key`), bucket).toBeUndefined();
    }
  });

  it('is undefined for anything but an s3:// URI', () => {
    for (const location of [
      './roles.jsonl',
      '/tmp/runs/r1',
      'roles.jsonl',
      'runs/r1/',
      'S3://bucket/key',
      's3:/bucket/key',
      'https://bucket.s3.amazonaws.com/key',
      'file:///tmp/x',
    ]) {
      expect(parseS3Uri(location), location).toBeUndefined();
      expect(parseS3ObjectUri(location), location).toBeUndefined();
    }
  });

  it('parseS3ObjectUri wants a key that names an object', () => {
    expect(parseS3ObjectUri('s3://bucket/dir/roles.jsonl')).toEqual({ bucket: 'bucket', key: 'dir/roles.jsonl' });
    expect(parseS3ObjectUri('s3://bucket/roles.jsonl')).toEqual({ bucket: 'bucket', key: 'roles.jsonl' });
    expect(parseS3ObjectUri('s3://bucket/dir/')).toBeUndefined();
    expect(parseS3ObjectUri('s3://bucket/')).toBeUndefined();
    expect(parseS3ObjectUri('s3://bucket')).toBeUndefined();
    expect(parseS3ObjectUri('s3://Bucket/roles.jsonl')).toBeUndefined();
  });

  it('s3Uri builds what parseS3Uri reads back', () => {
    expect(s3Uri('bucket', 'runs/r1/')).toBe('s3://bucket/runs/r1/');
    expect(parseS3Uri(s3Uri('bucket', 'runs/r1/report.json'))).toEqual({ bucket: 'bucket', key: 'runs/r1/report.json' });
    expect(parseS3Uri(s3Uri('bucket'))).toEqual({ bucket: 'bucket', key: '' });
  });
});
