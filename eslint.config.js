import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/**
 * Which folder may import which, so the layering of docs/architecture.md stays true:
 * cli/ and handlers/ -> core/ -> contract/; llm/ and store/ implement core/ports/; lib/ sees contract/ only.
 */
const restrict = (files, patterns) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } });
const group = (names, message) => ({ group: names, message });
const AWS = group(
  ['@aws-sdk/*', 'aws-cdk-lib', 'aws-cdk-lib/*', 'constructs'],
  'core/ and contract/ hold no AWS code: put it in an adapter (llm/, store/, fleet/, handlers/).',
);

const CORE_OUTSIDE = group(
  ['**/llm/*', '**/store/*', '**/fleet/*', '**/handlers/*', '**/cli/*'],
  'core/ depends on core/ports/ only; llm/ and store/ implement the ports, front doors call core.',
);

/**
 * The rooms of core/ and the rooms each may not import, so the domain reads bottom-up: verify/ (what a right
 * answer is) knows nothing of profiles or runs; run/, report/ and strategies/ compose everything below them.
 */
const ABOVE_REVIEW = ['run', 'report', 'strategies', 'export'];
const CORE_ROOMS = [
  ['verify', ['ports', 'profiles', 'prompts', 'review', ...ABOVE_REVIEW]],
  ['ports', ['profiles', 'prompts', 'review', ...ABOVE_REVIEW]],
  ['profiles', ['prompts', 'review', ...ABOVE_REVIEW]],
  ['prompts', ['review', ...ABOVE_REVIEW]],
  ['review', ABOVE_REVIEW],
  ['export', ['review', 'report', 'strategies']],
  ['run', []],
  ['report', []],
  ['strategies', []],
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', 'runs/**', 'coverage/**', '.node/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  restrict(
    ['orchestrator/src/contract/**'],
    [group(['../*', '!./*'], 'contract/ is the leaf every side shares: it imports nothing of the project.'), AWS],
  ),
  ...CORE_ROOMS.map(([room, below]) =>
    restrict(
      [`orchestrator/src/core/${room}/**`],
      [
        CORE_OUTSIDE,
        AWS,
        ...(below.length === 0
          ? []
          : [
              group(
                below.map((name) => `**/core/${name}/*`).concat(below.map((name) => `../${name}/*`)),
                `core/${room}/ sits below ${below.join(', ')}/: it may not import them.`,
              ),
            ]),
      ],
    ),
  ),
  restrict(
    ['orchestrator/src/llm/**', 'orchestrator/src/store/**'],
    [
      group(
        ['../core/*', '!../core/ports', '**/handlers/*', '**/cli/*', '**/fleet/*'],
        'llm/ and store/ implement core/ports/ and may import nothing else of core.',
      ),
    ],
  ),
  restrict(
    ['orchestrator/src/fleet/**'],
    [
      group(
        ['../core/*', '**/handlers/*', '**/cli/*', '**/store/*'],
        'fleet/ is the AWS fleet adapter: contract/ and the HTTP client only.',
      ),
    ],
  ),
  restrict(
    ['orchestrator/src/handlers/**'],
    [group(['**/cli/*'], 'handlers/ and cli/ are two front doors over core/: neither imports the other.')],
  ),
  restrict(
    ['orchestrator/src/cli/**'],
    [group(['**/handlers/*'], 'handlers/ and cli/ are two front doors over core/: neither imports the other.')],
  ),
  restrict(
    ['lib/**', 'bin/raiden-app.ts'],
    [
      group(
        ['**/orchestrator/src/*', '!**/orchestrator/src/contract'],
        'the CDK app shares names with the orchestrator through orchestrator/src/contract/ only.',
      ),
    ],
  ),
  {
    // Strategy names are decided inside core/strategies/: nothing else branches on them.
    files: ['orchestrator/src/**'],
    ignores: ['orchestrator/src/core/strategies/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'Literal[value=/^(tiered|filter|iterative)$/]',
          message: 'ask the strategy (core/strategies/) instead of branching on its name',
        },
      ],
    },
  },
  {
    // The report page's script runs in the browser as a classic script: browser globals and Chart.js only.
    files: ['orchestrator/src/core/report/page/*.js'],
    languageOptions: {
      sourceType: 'script',
      ecmaVersion: 2017,
      globals: { document: 'readonly', Option: 'readonly', Chart: 'readonly', process: 'off', setTimeout: 'off', setInterval: 'off' },
    },
    rules: { strict: ['error', 'function'], 'no-var': 'off' },
  },
  {
    // Every file of core/ lives in a room (CORE_ROOMS).
    files: ['orchestrator/src/core/*'],
    rules: { 'no-restricted-syntax': ['error', { selector: 'Program', message: 'put this file in a room of core/ (see CORE_ROOMS)' }] },
  },
  prettier,
);
