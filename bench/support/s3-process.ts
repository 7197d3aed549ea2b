/**
 * s3rver in its own process for the bench's workflow rows, e.g.
 * `node --openssl-legacy-provider --import tsx bench/support/s3-process.ts <directory> <bucket>...`; prints
 * `{"endpoint": ...}` once listening. s3rver encrypts its ListObjectsV2 continuation tokens with DES, which
 * OpenSSL 3 keeps in its legacy provider only: without the flag every listing past 1,000 keys fails with 500.
 */
import S3rver from 's3rver';

const [directory, ...buckets] = process.argv.slice(2);
if (directory === undefined) throw new Error('usage: s3-process.ts <directory> <bucket>...');
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ endpoint: `http://127.0.0.1:${port}` })}\n`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
