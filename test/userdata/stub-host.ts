/**
 * A fake GPU instance for running the rendered user-data: a temporary root (RAIDEN_ROOT) and stub
 * nvidia-smi, docker, python3, aws, systemctl, curl, mountpoint and CloudWatch agent commands on PATH.
 * Each stub appends its command line to a log the tests read; curl serves canned /metrics text.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const STUB_INSTANCE_ID = 'i-0123456789abcdef0';
export const STUB_API_KEY = 'stub-api-key';

const LOG_LINE = 'printf "%s\\n" "$(basename "$0") $*" >> "$STUB_LOG"';

const STUBS: Record<string, string> = {
  'nvidia-smi': `${LOG_LINE}\nfor i in $(seq 0 $((\${STUB_GPUS:-8} - 1))); do echo "$i"; done`,
  docker: LOG_LINE,
  systemctl: LOG_LINE,
  mountpoint: LOG_LINE,
  'amazon-cloudwatch-agent-ctl': LOG_LINE,
  python3: `${LOG_LINE}
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
fi`,
  aws: `${LOG_LINE}
if [ -n "\${STUB_AWS_FAIL:-}" ] && [[ "$*" == *"$STUB_AWS_FAIL"* ]]; then echo "aws stub: failing $*" >&2; exit 255; fi
case "$1 $2" in
  "secretsmanager get-secret-value") echo "${STUB_API_KEY}" ;;
  "s3 sync") mkdir -p "\${@: -1}" ;;
esac`,
  curl: `${LOG_LINE}
url="\${@: -1}"
case "$url" in
  */latest/api/token) echo stub-imds-token ;;
  */meta-data/instance-id) echo ${STUB_INSTANCE_ID} ;;
  */health_generate) exit 0 ;;
  */metrics)
    port="\${url##*:}"; port="\${port%%/*}"
    if [ -f "$STUB_METRICS_DIR/$port" ]; then cat "$STUB_METRICS_DIR/$port"; else echo "curl stub: connection refused" >&2; exit 7; fi ;;
  *) echo "curl stub: unexpected url $url" >&2; exit 22 ;;
esac`,
};

export interface StubHost {
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;
  /** Command lines the stubs saw, in order. */
  calls(): string[];
  read(path: string): string;
  exists(path: string): boolean;
  /** Serves this text at http://127.0.0.1:<port>/metrics; null makes the port refuse connections. */
  setMetrics(port: number, text: string | null): void;
  run(scriptPath: string, extraEnv?: NodeJS.ProcessEnv, args?: string[]): { status: number | null; output: string };
  dispose(): void;
}

export function createStubHost(): StubHost {
  const base = mkdtempSync(join(tmpdir(), 'raiden-userdata-'));
  const root = join(base, 'root');
  const bin = join(base, 'bin');
  const metrics = join(base, 'metrics');
  const log = join(base, 'calls.log');
  for (const dir of [root, bin, metrics]) mkdirSync(dir, { recursive: true });
  writeFileSync(log, '');
  for (const [name, body] of Object.entries(STUBS)) {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: base,
    RAIDEN_ROOT: root,
    RAIDEN_LOG_FLUSH_SECONDS: '0',
    STUB_LOG: log,
    STUB_METRICS_DIR: metrics,
  };
  return {
    root,
    env,
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    read: (path) => readFileSync(join(root, path), 'utf8'),
    exists: (path) => existsSync(join(root, path)),
    setMetrics(port, text) {
      const file = join(metrics, String(port));
      if (text === null) rmSync(file, { force: true });
      else writeFileSync(file, text);
    },
    run(scriptPath, extraEnv = {}, args = []) {
      const result = spawnSync('bash', [scriptPath, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 30_000 });
      return { status: result.status, output: `${result.stdout}${result.stderr}` };
    },
    dispose: () => rmSync(base, { recursive: true, force: true }),
  };
}
