const js = require('@eslint/js');
const globals = require('globals');

const miniProgramGlobals = {
  wx: 'readonly',
  App: 'readonly',
  Page: 'readonly',
  Component: 'readonly',
  Behavior: 'readonly',
  getApp: 'readonly',
  getCurrentPages: 'readonly'
};

module.exports = [
  {
    ignores: ['node_modules/**', 'vendor/qrcode-generator/**', 'coverage/**']
  },
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: 'commonjs',
      globals: Object.assign({}, globals.commonjs, miniProgramGlobals, { console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' })
    },
    rules: {
      'no-unused-vars': ['error', { args: 'after-used', caughtErrors: 'none' }],
      'no-var': 'off',
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
      'no-console': 'off'
    }
  },
  {
    files: ['tests/**/*.js', 'jest.config.js', 'eslint.config.js'],
    languageOptions: {
      globals: Object.assign({}, globals.node, globals.jest, { document: 'readonly' })
    }
  }
];
