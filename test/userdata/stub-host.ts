/**
 * A fake GPU instance for running the rendered user-data: a temporary root (RAIDEN_ROOT) and stub
 * nvidia-smi, docker, python3, aws, systemctl, curl, mountpoint, date, sleep and CloudWatch agent commands
 * on PATH. Each stub appends its command line to a log the tests read; curl serves canned /metrics text
 * and checks the Authorization header the way the servers do.
 *
 * Scripts run the way the instance runs them: cloud-init and systemd start a file with execve(2), which
 * needs its `#!` line, so `run` execs the file itself. Node's spawn cannot show that: libuv goes through
 * execvp, which retries a file without `#!` under /bin/sh; process.execve (Node 22.15+) is a bare execve.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const STUB_INSTANCE_ID = 'i-0123456789abcdef0';
export const STUB_API_KEY = 'stub-api-key-3f9c1e';
/** The time the stub clock starts at (seconds), when a test asks for one. */
export const STUB_CLOCK_START = 1_700_000_000;

const LOG_LINE = 'printf "%s\\n" "$(basename "$0") $*" >> "$STUB_LOG"';
const REAL_DATE = ['/bin/date', '/usr/bin/date'].find((path) => existsSync(path)) ?? 'date';
const ADVANCE_CLOCK = 'advance() { [ -n "${STUB_CLOCK:-}" ] && echo $(($(cat "$STUB_CLOCK") + $1)) > "$STUB_CLOCK"; return 0; }';

const STUBS: Record<string, string> = {
  'nvidia-smi': `${LOG_LINE}\nfor i in $(seq 0 $((\${STUB_GPUS:-8} - 1))); do echo "$i"; done`,
  docker: `${LOG_LINE}\n${ADVANCE_CLOCK}\nif [ "$1" = pull ]; then advance "\${STUB_PULL_SECONDS:-0}"; fi`,
  systemctl: LOG_LINE,
  mountpoint: LOG_LINE,
  'amazon-cloudwatch-agent-ctl': LOG_LINE,
  python3: `${LOG_LINE}
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
fi`,
  // Like the real CLI, `aws configure set` writes the file AWS_CONFIG_FILE names, else ~/.aws/config; every
  // call records which config file it was given: https://docs.aws.amazon.com/cli/latest/reference/configure/set.html,
  // https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html
  aws: `${LOG_LINE}
printf "%s AWS_CONFIG_FILE=%s\\n" "$1 $2" "\${AWS_CONFIG_FILE:-unset}" >> "$STUB_LOG.aws-config"
if [ "$1 $2" = "configure set" ]; then
  config="\${AWS_CONFIG_FILE:-$HOME/.aws/config}"
  mkdir -p "$(dirname "$config")" && printf "%s = %s\\n" "$3" "$4" >> "$config"
fi
if [ -n "\${STUB_AWS_FAIL:-}" ] && [[ "$*" == *"$STUB_AWS_FAIL"* ]]; then echo "aws stub: failing $*" >&2; exit 255; fi
case "$1 $2" in
  "secretsmanager get-secret-value") echo "${STUB_API_KEY}" ;;
  "s3 sync") mkdir -p "\${@: -1}" ;;
  "s3api head-object")
    key=""; prev=""
    for arg in "$@"; do [ "$prev" = --key ] && key="$arg"; prev="$arg"; done
    case " \${STUB_S3_OBJECTS:-} " in
      *" $key "*) echo '{"ContentLength": 2}' ;;
      *) echo "An error occurred (404) when calling the HeadObject operation: Not Found" >&2; exit 254 ;;
    esac ;;
esac`,
  curl: `${LOG_LINE}
url="\${@: -1}"
auth=""; prev=""
for arg in "$@"; do
  if [ "$prev" = -H ]; then
    case "$arg" in @*) header="$(cat "\${arg#@}")" ;; *) header="$arg" ;; esac
    case "$header" in Authorization:*) auth="\${header#Authorization: }" ;; esac
  fi
  prev="$arg"
done
authorized() { [ "$auth" = "Bearer ${STUB_API_KEY}" ] || { echo "curl stub: HTTP 401 without the API key" >&2; exit 22; }; }
case "$url" in
  */latest/api/token) echo stub-imds-token ;;
  */meta-data/instance-id) [ -n "\${STUB_IMDS_DOWN:-}" ] && { echo "curl stub: IMDS connection refused" >&2; exit 7; }; echo ${STUB_INSTANCE_ID} ;;
  */health_generate) authorized; [ -z "\${STUB_HEALTH_FAIL:-}" ] || { echo "curl stub: HTTP 503" >&2; exit 22; } ;;
  */metrics)
    authorized
    port="\${url##*:}"; port="\${port%%/*}"
    if [ -f "$STUB_METRICS_DIR/$port" ]; then cat "$STUB_METRICS_DIR/$port"; else echo "curl stub: connection refused" >&2; exit 7; fi ;;
  *) echo "curl stub: unexpected url $url" >&2; exit 22 ;;
esac`,
  // No real time passes in the tests: with STUB_CLOCK set, date +%s reads it and sleep advances it.
  date: `if [ -n "\${STUB_CLOCK:-}" ] && [ "$*" = "+%s" ]; then cat "$STUB_CLOCK"; else exec ${REAL_DATE} "$@"; fi`,
  sleep: `${ADVANCE_CLOCK}\nadvance "\${1%s}"`,
};

export interface StubHost {
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;
  /** Command lines the stubs saw, in order. */
  calls(): string[];
  /** For each aws call, in order: its command and service (`s3 sync`) and the AWS_CONFIG_FILE it ran with (`unset` when none). */
  awsConfigFiles(): string[];
  read(path: string): string;
  exists(path: string): boolean;
  /** Serves this text at http://127.0.0.1:<port>/metrics; null makes the port refuse connections. */
  setMetrics(port: number, text: string | null): void;
  /** Starts the stub clock (date +%s, sleep) at STUB_CLOCK_START; returns a reader of its current value. */
  startClock(): () => number;
  /** Puts a stub where the AMI has the real command, for example /usr/bin/docker, so units can name it. */
  provideAmiCommand(path: string, stub: keyof typeof STUBS): void;
  run(scriptPath: string, extraEnv?: NodeJS.ProcessEnv, args?: string[]): { status: number | null; output: string };
  dispose(): void;
}

/** execve(2) of the file itself, with no shell fallback: what systemd's ExecStart and cloud-init do. */
export function execFile(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { status: number | null; output: string; error?: Error | undefined } {
  if (typeof process.execve !== 'function') {
    throw new Error(`process.execve is missing in Node ${process.version}: the user-data tests need Node 22.15 or newer`);
  }
  const launcher = 'const [file, ...args] = process.argv.slice(1); process.execve(file, [file, ...args], process.env);';
  const result = spawnSync(process.execPath, ['-e', launcher, '--', file, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}`, error: result.error };
}

export function createStubHost(): StubHost {
  const base = mkdtempSync(join(tmpdir(), 'raiden-userdata-'));
  const root = join(base, 'root');
  const bin = join(base, 'bin');
  const metrics = join(base, 'metrics');
  const log = join(base, 'calls.log');
  const clock = join(base, 'clock');
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
    awsConfigFiles: () => (existsSync(`${log}.aws-config`) ? readFileSync(`${log}.aws-config`, 'utf8').split('\n').filter(Boolean) : []),
    read: (path) => readFileSync(join(root, path), 'utf8'),
    exists: (path) => existsSync(join(root, path)),
    setMetrics(port, text) {
      const file = join(metrics, String(port));
      if (text === null) rmSync(file, { force: true });
      else writeFileSync(file, text);
    },
    startClock() {
      writeFileSync(clock, `${STUB_CLOCK_START}\n`);
      env.STUB_CLOCK = clock;
      return () => Number(readFileSync(clock, 'utf8'));
    },
    provideAmiCommand(path, stub) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      copyFileSync(join(bin, stub), join(root, path));
      chmodSync(join(root, path), 0o755);
    },
    run(scriptPath, extraEnv = {}, args = []) {
      chmodSync(scriptPath, 0o755);
      return execFile(scriptPath, args, { ...env, ...extraEnv });
    },
    dispose: () => rmSync(base, { recursive: true, force: true }),
  };
}
