import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['compiler/test/**/*.test.ts', 'runtime/test/**/*.test.ts', 'scripts/test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
