#!/usr/bin/env node
// The CLI runs from its compiled code (`npm run build`, run by `prepare` and before the tests): nothing is
// transpiled at startup. Users' own TypeScript tasks are loaded through tsx only when one is imported.
const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
