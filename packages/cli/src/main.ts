#!/usr/bin/env node
// The `ringblock` command (DESIGN §11).
import { runCommand } from './commands.js';

runCommand(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`ringblock: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
