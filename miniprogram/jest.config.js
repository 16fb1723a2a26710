// `npm test` runs eslint, then both projects. `unit` renders the pages with miniprogram-simulate and
// drives app.js with a fake `wx`; `contract` runs utils/api.js against a real `kaika serve` (sandbox).
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'jsdom',
      testMatch: ['<rootDir>/tests/unit/**/*.test.js'],
      clearMocks: true
    },
    {
      displayName: 'contract',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/tests/contract/**/*.test.js']
    }
  ]
};
