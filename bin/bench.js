#!/usr/bin/env node
// `npm run bench`: the tool against the raw driver, from TypeScript sources through tsx like the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bench/main.ts');
process.exitCode = await main(process.argv.slice(2));
